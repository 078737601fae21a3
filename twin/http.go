package twin

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
)

// MaxIngestBody bounds the body of POST /api/v1/observations.
const MaxIngestBody = 32 << 20

// RegisterRoutes adds the twin's HTTP routes to mux.
func (s *Service) RegisterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/devices", s.handleDeviceCreate)
	mux.HandleFunc("GET /api/v1/devices", s.handleDeviceIndex)
	mux.HandleFunc("GET /api/v1/devices/{id}", s.handleDeviceView)
	mux.HandleFunc("PATCH /api/v1/devices/{id}", s.handleDeviceUpdate)
	mux.HandleFunc("DELETE /api/v1/devices/{id}", s.handleDeviceDelete)
	mux.HandleFunc("GET /api/v1/device-kinds", s.handleKindIndex)
	mux.HandleFunc("GET /api/v1/features/{layer}/{id}/devices", s.handleFeatureDevices)
	mux.HandleFunc("POST /api/v1/observations", s.handleObservations)
	mux.HandleFunc("GET /api/v1/devices/{id}/observations", s.handleHistory)
	mux.HandleFunc("POST /api/v1/devices/{id}/commands", s.handleCommandCreate)
	mux.HandleFunc("GET /api/v1/devices/{id}/commands", s.handleCommandIndex)
	mux.HandleFunc("GET /api/v1/rules", s.handleRuleIndex)
	mux.HandleFunc("POST /api/v1/rules", s.handleRuleCreate)
	mux.HandleFunc("DELETE /api/v1/rules/{id}", s.handleRuleDelete)
	mux.HandleFunc("GET /api/v1/alarms", s.handleAlarmIndex)
	mux.HandleFunc("POST /api/v1/alarms/{id}/ack", s.handleAlarmAck)
	mux.HandleFunc("POST /api/v1/alarms/{id}/clear", s.handleAlarmClear)
}

// handleDeviceCreate handles the "POST /api/v1/devices" route: one device
// object, or an array of them (all or nothing).
func (s *Service) handleDeviceCreate(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Admin); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var raw json.RawMessage
	if err := httpapi.DecodeJSON(w, r, 64<<20, &raw); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	raw = bytes.TrimSpace(raw)
	array := len(raw) > 0 && raw[0] == '['
	var in []DeviceInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var err error
	if array {
		err = dec.Decode(&in)
	} else {
		var one DeviceInput
		err = dec.Decode(&one)
		in = []DeviceInput{one}
	}
	if err != nil {
		httpapi.Error(w, r, httpapi.JSONError(err, 64<<20))
		return
	}
	out, err := s.CreateDevices(r.Context(), in)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if array {
		httpapi.WriteJSON(w, http.StatusCreated, out)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, out[0])
}

// handleDeviceIndex handles the "GET /api/v1/devices" route (?kind= &status=
// &bbox= &limit=).
func (s *Service) handleDeviceIndex(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := DeviceFilter{Kind: q.Get("kind"), Status: q.Get("status"), Limit: 1000}
	if f.Kind != "" {
		if _, ok := kinds[f.Kind]; !ok {
			httpapi.Error(w, r, errs.Invalid("kind", "unknown device kind %q", f.Kind))
			return
		}
	}
	var err error
	if f.Bbox, err = ParseBbox(q.Get("bbox")); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			httpapi.Error(w, r, errs.Invalid("limit", "limit must be 1 to 100000"))
			return
		}
		f.Limit = n
	}
	httpapi.WriteJSON(w, http.StatusOK, s.Devices(f))
}

// handleDeviceView handles the "GET /api/v1/devices/{id}" route.
func (s *Service) handleDeviceView(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	d, err := s.Device(r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, d)
}

// handleDeviceUpdate handles the "PATCH /api/v1/devices/{id}" route.
func (s *Service) handleDeviceUpdate(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Admin); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var p DevicePatch
	if err := httpapi.DecodeJSON(w, r, 1<<20, &p); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	d, err := s.UpdateDevice(r.Context(), r.PathValue("id"), p)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, d)
}

// handleDeviceDelete handles the "DELETE /api/v1/devices/{id}" route.
func (s *Service) handleDeviceDelete(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Admin); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := s.DeleteDevice(r.Context(), r.PathValue("id")); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleKindIndex handles the "GET /api/v1/device-kinds" route.
func (s *Service) handleKindIndex(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	type kindView struct {
		Name      string            `json:"name"`
		Title     string            `json:"title"`
		Metrics   map[string]Metric `json:"metrics"`
		IntervalS float64           `json:"interval_s"`
		Commands  []string          `json:"commands"`
	}
	var out []kindView
	for _, k := range Kinds() {
		cmds := k.Commands
		if cmds == nil {
			cmds = []string{}
		}
		out = append(out, kindView{k.Name, k.Title, k.Metrics, k.Interval.Seconds(), cmds})
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// handleFeatureDevices handles the "GET /api/v1/features/{layer}/{id}/devices"
// route: the devices bound to a feature, with their latest values.
func (s *Service) handleFeatureDevices(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if _, err := s.Registry.Layer(r.PathValue("layer")); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpapi.Error(w, r, errs.Invalid("id", "feature id must be an integer"))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.Devices(DeviceFilter{Feature: &FeatureRef{Layer: r.PathValue("layer"), ID: id}}))
}

// handleObservations handles the "POST /api/v1/observations" route: a JSON
// array or NDJSON of observations; it answers once they are committed.
func (s *Service) handleObservations(w http.ResponseWriter, r *http.Request) {
	p := auth.PrincipalFrom(r.Context())
	if p == nil {
		httpapi.Error(w, r, errs.Errorf(errs.EUNAUTHORIZED, "ingest needs a device key, or an operator or admin key (Authorization: Bearer KEY)"))
		return
	}
	if p.Role != auth.Device && !p.Can(auth.Operator) {
		httpapi.Error(w, r, errs.Errorf(errs.EFORBIDDEN, "ingest needs a device key, or an operator or admin key; this key has %s", p.Role))
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxIngestBody))
	if err != nil {
		httpapi.Error(w, r, httpapi.JSONError(err, MaxIngestBody))
		return
	}
	obs, err := ParseObservations(body, ct == "application/x-ndjson" || ct == "application/ndjson")
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	res, err := s.Ingest(r.Context(), p, obs)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
}

// handleHistory handles the "GET /api/v1/devices/{id}/observations" route
// (?metric= &from= &to= &points=): at most points buckets per metric.
func (s *Service) handleHistory(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	to := time.Now().UTC()
	from := to.Add(-24 * time.Hour)
	var err error
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339Nano, v); err != nil {
			httpapi.Error(w, r, errs.Invalid("to", "to must be RFC 3339"))
			return
		}
		if q.Get("from") == "" {
			from = to.Add(-24 * time.Hour)
		}
	}
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339Nano, v); err != nil {
			httpapi.Error(w, r, errs.Invalid("from", "from must be RFC 3339"))
			return
		}
	}
	points := 500
	if v := q.Get("points"); v != "" {
		if points, err = strconv.Atoi(v); err != nil {
			httpapi.Error(w, r, errs.Invalid("points", "points must be an integer"))
			return
		}
	}
	h, err := s.History(r.Context(), r.PathValue("id"), q.Get("metric"), from, to, points)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, h)
}

// handleCommandCreate handles the "POST /api/v1/devices/{id}/commands"
// route (?timeout=5s): 200 with the device's answer, 504 without one.
func (s *Service) handleCommandCreate(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Operator); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var in CommandInput
	if err := httpapi.DecodeJSON(w, r, 64<<10, &in); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var timeout time.Duration
	if v := r.URL.Query().Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 2*time.Minute {
			httpapi.Error(w, r, errs.Invalid("timeout", "timeout must be a duration up to 2m, e.g. 5s"))
			return
		}
		timeout = d
	}
	c, err := s.SendCommand(r.Context(), r.PathValue("id"), auth.PrincipalFrom(r.Context()).Actor(), in, timeout)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

// handleCommandIndex handles the "GET /api/v1/devices/{id}/commands" route.
func (s *Service) handleCommandIndex(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	cs, err := s.Commands(r.Context(), r.PathValue("id"), 100)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, cs)
}

// handleRuleIndex handles the "GET /api/v1/rules" route.
func (s *Service) handleRuleIndex(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.Rules())
}

// handleRuleCreate handles the "POST /api/v1/rules" route.
func (s *Service) handleRuleCreate(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Admin); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var in struct {
		Rule
		AutoClear *bool `json:"auto_clear"`
	}
	if err := httpapi.DecodeJSON(w, r, 64<<10, &in); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	in.Rule.AutoClear = in.AutoClear == nil || *in.AutoClear
	rule, err := s.CreateRule(r.Context(), in.Rule)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, rule)
}

// handleRuleDelete handles the "DELETE /api/v1/rules/{id}" route.
func (s *Service) handleRuleDelete(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Admin); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpapi.Error(w, r, errs.Invalid("id", "rule id must be an integer"))
		return
	}
	if err := s.DeleteRule(r.Context(), id); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func boolParam(q string, name string) (*bool, error) {
	if q == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(q)
	if err != nil {
		return nil, errs.Invalid(name, "%s must be true or false", name)
	}
	return &b, nil
}

// handleAlarmIndex handles the "GET /api/v1/alarms" route (?active=
// &acknowledged= &device= &bbox= &limit=).
func (s *Service) handleAlarmIndex(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	var f AlarmFilter
	var err error
	if f.Active, err = boolParam(q.Get("active"), "active"); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if f.Acknowledged, err = boolParam(q.Get("acknowledged"), "acknowledged"); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if f.Bbox, err = ParseBbox(q.Get("bbox")); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	f.Device = q.Get("device")
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 10000 {
			httpapi.Error(w, r, errs.Invalid("limit", "limit must be 1 to 10000"))
			return
		}
	}
	as, err := s.Alarms(r.Context(), f)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, as)
}

func alarmID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, errs.Invalid("id", "alarm id must be an integer")
	}
	return id, nil
}

// handleAlarmAck handles the "POST /api/v1/alarms/{id}/ack" route.
func (s *Service) handleAlarmAck(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Operator); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	id, err := alarmID(r)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	a, err := s.AckAlarm(r.Context(), id, auth.PrincipalFrom(r.Context()).Actor())
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a)
}

// handleAlarmClear handles the "POST /api/v1/alarms/{id}/clear" route.
func (s *Service) handleAlarmClear(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Operator); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	id, err := alarmID(r)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	a, err := s.ClearAlarm(r.Context(), id)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a)
}
