// Command keysmith-cluster runs keysmith at production shape on this
// machine, without containers (what `make cluster` runs): the real Temporal
// server on Postgres with SQL visibility, the Temporal UI, the codec server,
// two workers and two API processes, each restarted when it dies. Ctrl-C
// stops them all; the databases and .cluster/ stay for the next start
// (`make cluster-clean` removes them).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/keysmith/keysmith/internal/cluster"
)

func main() {
	var o cluster.Options
	flag.IntVar(&o.Workers, "workers", 2, "keysmith worker processes")
	flag.IntVar(&o.APIs, "apis", 2, "keysmith API processes")
	flag.StringVar(&o.Config, "config", "", "keysmith.yaml (default deploy/keysmith.yaml)")
	clean := flag.Bool("clean", false, "drop the cluster's databases and .cluster/, then exit")
	flag.Parse()
	o.Postgres = os.Getenv("KEYSMITH_CLUSTER_POSTGRES")
	o.Log = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *clean {
		if err := cluster.Clean(ctx, o); err != nil {
			fmt.Fprintln(os.Stderr, "keysmith-cluster:", err)
			os.Exit(1)
		}
		return
	}
	c, err := cluster.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keysmith-cluster:", err)
		os.Exit(1)
	}
	defer c.Stop()
	fmt.Printf(`
keysmith cluster is up (Temporal %s on Postgres, database %s):
  Temporal frontend  %s
  APIs               %v  (put a load balancer in front of them)
  workers /metrics   %v
  codec server       %s  (CLI: --codec-endpoint %s --codec-auth "Bearer $(cat .cluster/codec-token)")
`, cluster.TemporalVersion, c.DatabaseURL(), c.TemporalAddress(), c.APIURLs(), c.WorkerURLs(), c.CodecURL(), c.CodecURL())
	if c.HasUI() {
		fmt.Printf("  Temporal UI        %s\n", c.UIURL())
	}
	fmt.Printf(`Logs in .cluster/logs/. keysmith's configuration is .cluster/keysmith.yaml, made from
deploy/keysmith.yaml with a real ShareIt password (in .cluster/shareit-password). Try:

curl -sS "http://localhost:8080/qlmservice.asmx/GetActivationKey?is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3&is_user=shareit&is_pwd=$(cat .cluster/shareit-password)" \
  -d PURCHASE_ID=123456 -d RUNNING_NO=1 -d QUANTITY=1 -d ENCODING=UTF8 -d EMAIL=buyer@example.com

Ctrl-C stops everything.

`)
	<-ctx.Done()
	fmt.Println("stopping")
}
