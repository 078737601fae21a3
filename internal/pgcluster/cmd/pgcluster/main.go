// Command pgcluster starts or stops a private PostgreSQL/PostGIS cluster in a
// folder. The project's scripts use it (for example to stop the shared test
// cluster after `make test`); citytwin itself manages its own.
//
//	pgcluster start DIR   # prints the database URL
//	pgcluster stop DIR
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/citytwin/citytwin/internal/pgcluster"
)

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "start" && os.Args[1] != "stop") {
		fmt.Fprintln(os.Stderr, "usage: pgcluster start|stop DIR")
		os.Exit(2)
	}
	c := &pgcluster.Cluster{Dir: os.Args[2]}
	var err error
	switch os.Args[1] {
	case "start":
		if err = c.Start(context.Background()); err == nil {
			fmt.Println(c.URL())
		}
	case "stop":
		if c.BinDir, err = pgcluster.FindBinDir(); err == nil {
			err = c.Stop()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgcluster:", err)
		os.Exit(1)
	}
}
