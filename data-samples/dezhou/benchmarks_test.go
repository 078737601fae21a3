package dezhou

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGenerate writes a whole district per iteration and reports the
// features written per second. Run the large scale with
// CITYTWIN_BENCH_LARGE=1 (about a million buildings, a few GB on disk).
func BenchmarkGenerate(b *testing.B) {
	names := []string{"small", "default"}
	if os.Getenv("CITYTWIN_BENCH_LARGE") != "" {
		names = append(names, "large")
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			s, err := ScaleNamed(name)
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			b.ReportAllocs()
			b.ResetTimer()
			var features, bytes int64
			for i := 0; i < b.N; i++ {
				m, err := Generate(context.Background(), Options{Scale: s, Seed: 1, Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				features = 0
				for _, l := range m.Layers {
					features += l.Count
				}
			}
			b.StopTimer()
			files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
			for _, f := range files {
				if fi, err := os.Stat(f); err == nil {
					bytes += fi.Size()
				}
			}
			b.ReportMetric(float64(features), "features")
			b.ReportMetric(float64(bytes)/1e6, "MB")
			b.ReportMetric(float64(features)*float64(b.N)/b.Elapsed().Seconds(), "features/s")
		})
	}
}
