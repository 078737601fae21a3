// Package scenes holds saved command views: camera, layers with filters and
// styles, and KPI widgets, plus the built-in scenes of the plan's use cases.
package scenes
