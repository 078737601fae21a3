package importers_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/citytwin/citytwin/importers"
)

// BenchmarkImportBuildingsNDJSON imports generated footprints (the file of
// make bench-import, smaller) into buildings, H3 cells included.
func BenchmarkImportBuildingsNDJSON(b *testing.B) {
	s := MustOpenStore(b)
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("BENCH_BUILDINGS")); err == nil {
		n = v
	}
	f := filepath.Join(b.TempDir(), "buildings.ndjson")
	root, _ := filepath.Abs("..")
	cmd := exec.Command("go", "run", "./importers/internal/genbuildings", "-n", strconv.Itoa(n), "-o", f)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("generate: %v %s", err, out)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := importers.Run(context.Background(), s, slog.New(slog.NewTextHandler(os.Stderr, nil)), importers.Options{Files: []string{f}, Layer: "buildings", Source: "bench" + strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Inserted != int64(n) {
			b.Fatalf("report %+v", rep)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "features/s")
}
