// Command keysmith is the license-key server: the API that answers the
// storefront, the Temporal worker that issues, saves and mails keys, and
// the tools around them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: keysmith <command> [flags]

commands:
  dev            run everything locally: Temporal dev server, migrations,
                 demo configuration, worker and API (what make run does)
  serve          run the HTTP API (production)
  worker         run the Temporal worker (production)
  codec          serve the payload codec to the Temporal UI and CLI (production)
  support        find an order line, resend its email, revoke its keys or settle a held line, on the record:
                   keysmith support find -purchase ID | -email ADDR | -key KEY
                   keysmith support resend -line shareit:123456-1 [-to ADDR] -actor NAME -reason WHY
                   keysmith support revoke|restore -line shareit:123456-1 [-key KEY] -actor NAME -reason WHY
                   keysmith support confirm|cancel -line shareit:123456-1 -actor NAME -reason WHY
  admin-token    make a token for the admin API:  keysmith admin-token NAME
  audit          print an order line's story from Temporal, decoded:  keysmith audit shareit:123456-1
  import         bring licenses over from QLM (CSV of qryLicenseInfo; see README.md):
                   keysmith import qlm -licenses FILE [-activations FILE] [-customers FILE]
                     [-provider qlm-import] [-date-format M/d/yyyy] -actor NAME [-dry-run]
  migrate        apply database migrations
  keygen         create a signing key pair:  keysmith keygen -dir DIR -id N
  codec-key      create a payload codec key:  keysmith codec-key -dir DIR -id N
  verify         verify a license key offline:  keysmith verify [-keys DIR] KEY
  hash-password  read a password on stdin, print its bcrypt hash for keysmith.yaml

Configuration comes from the environment; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "keysmith:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, stdout)
	case "serve":
		return runServe(ctx)
	case "worker":
		return runWorker(ctx)
	case "codec":
		return runCodec(ctx)
	case "codec-key":
		return runCodecKey(args, stdout)
	case "support":
		return runSupport(ctx, args, stdout)
	case "admin-token":
		return runAdminToken(args, stdout)
	case "audit":
		return runAudit(ctx, args, stdout)
	case "import":
		return runImport(ctx, args, stdout, os.Stderr)
	case "migrate":
		return runMigrate(ctx, stdout)
	case "keygen":
		return runKeygen(args, stdout)
	case "verify":
		return runVerify(args, stdout)
	case "hash-password":
		return runHashPassword(stdin, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return errUsage
}
