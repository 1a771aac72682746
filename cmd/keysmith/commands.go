package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/app"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

func runServe(ctx context.Context) error {
	a, err := openApp(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Serve(ctx)
}

func runWorker(ctx context.Context) error {
	a, err := openApp(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.RunWorker(ctx)
}

func openApp(ctx context.Context) (*app.App, error) {
	e, err := app.LoadEnv()
	if err != nil {
		return nil, err
	}
	return app.Open(ctx, e, "")
}

func runMigrate(ctx context.Context, stdout io.Writer) error {
	e, err := app.LoadEnv()
	if err != nil {
		return err
	}
	db, err := store.Open(e.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := store.Migrate(ctx, db)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	return nil
}

func runKeygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	dir := fs.String("dir", ".data/keys", "directory for signing-<id>.pem and public-<id>.pem")
	id := fs.Uint("id", 1, "key id (1-65535); rotate by adding a key with a higher id")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *id == 0 || *id > 0xffff {
		return errors.New("keygen: -id must be 1-65535")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	k, err := license.GenerateSigningKey(uint16(*id))
	if err != nil {
		return err
	}
	if err := license.WriteKeyPair(*dir, k); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/signing-%d.pem (secret: the worker signs with it) and %s/public-%d.pem (ship it in your app)\n", *dir, *id, *dir, *id)
	return nil
}

// runCodec serves the payload codec to the Temporal UI and CLI.
func runCodec(ctx context.Context) error {
	e, err := app.LoadEnv()
	if err != nil {
		return err
	}
	if e.CodecToken == "" {
		return errors.New("codec: set KEYSMITH_CODEC_TOKEN (callers send it as Authorization: Bearer <token>)")
	}
	c, err := e.Codec()
	if err != nil {
		return err
	}
	return app.CodecServer(ctx, e, c, e.Logger())
}

func runCodecKey(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("codec-key", flag.ContinueOnError)
	dir := fs.String("dir", ".data/codec", "directory for codec-<id>.key")
	id := fs.Uint("id", 1, "key id; rotate by adding a key with a higher id and keeping the old ones")
	if err := fs.Parse(args); err != nil || *id == 0 || *id > 1<<32-1 {
		return errUsage
	}
	path, err := codec.WriteKey(*dir, uint32(*id))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (secret: every client, worker and the codec server need it)\n", path)
	return nil
}

// runSupport is the support desk's command line: find an order line,
// resend its email, revoke or restore its keys, or confirm or cancel a held
// line, on the record.
func runSupport(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("support "+sub, flag.ContinueOnError)
	var purchase, email, key, line, to, actor, reason, request *string
	switch sub {
	case "find":
		purchase = fs.String("purchase", "", "the storefront's order number (PURCHASE_ID)")
		email = fs.String("email", "", "the buyer's email address")
		key = fs.String("key", "", "a license key")
	case "revoke", "restore":
		line = fs.String("line", "", "the order line, as find prints it: shareit:123456-1")
		key = fs.String("key", "", "one key of the line (default: every key)")
		actor = fs.String("actor", os.Getenv("USER"), "who asks (your name)")
		reason = fs.String("reason", "", "why (refund, chargeback)")
		request = fs.String("request", "", "the request's id: the same id is the same revocation (default: a new one)")
	case "confirm", "cancel":
		line = fs.String("line", "", "the held order line, as find prints it: shareit:123456-1")
		actor = fs.String("actor", os.Getenv("USER"), "who decides (your name)")
		reason = fs.String("reason", "", "how you checked the purchase at the storefront")
	case "resend":
		line = fs.String("line", "", "the order line, as find prints it: shareit:123456-1")
		to = fs.String("to", "", "a corrected address (default: the one on record)")
		actor = fs.String("actor", os.Getenv("USER"), "who asks (your name)")
		reason = fs.String("reason", "", "why")
		request = fs.String("request", "", "the request's id: the same id is the same resend (default: a new one)")
	default:
		return errUsage
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	a, err := openApp(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	if sub == "find" {
		if *purchase == "" && *email == "" && *key == "" {
			return errors.New("support find: give -purchase, -email or -key")
		}
		return a.Find(ctx, stdout, *purchase, *email, *key)
	}
	if sub == "revoke" || sub == "restore" {
		if *request == "" {
			*request = strings.ToLower(rand.Text()[:12])
		}
		n, id, err := workflows.Revoke(ctx, a.Temporal, a.Env.TaskQueue, workflows.RevokeRequest{
			Line: *line, Key: *key, Restore: sub == "restore", Actor: *actor, Reason: *reason}, *request)
		if err != nil {
			return fmt.Errorf("support %s: %w", sub, err)
		}
		fmt.Fprintf(stdout, "%sd %d key(s) of %s\nhistory: %s\n", sub, n, *line, a.WorkflowURL(id))
		return nil
	}
	if sub == "confirm" || sub == "cancel" {
		update := workflows.ConfirmPurchaseUpdate
		if sub == "cancel" {
			update = workflows.CancelPurchaseUpdate
		}
		answer, id, err := a.Decide(ctx, *line, update, workflows.Decision{Actor: *actor, Reason: *reason})
		if err != nil {
			return fmt.Errorf("support %s: %w", sub, err)
		}
		fmt.Fprintf(stdout, "%s: %s\nhistory: %s\n", *line, answer, a.WorkflowURL(id))
		return nil
	}
	res, id, err := a.Resend(ctx, workflows.ResendRequest{Line: *line, To: *to, Actor: *actor, Reason: *reason}, *request)
	if err != nil {
		return fmt.Errorf("support resend: %w", err)
	}
	fmt.Fprintf(stdout, "sent to %s (message %s)\nhistory: %s\n", res.To, res.EmailID, a.WorkflowURL(id))
	return nil
}

// runImport imports licenses from QLM and prints what it did: the counts,
// the time, and each bad row with its line number and reason.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "qlm" {
		return errUsage
	}
	fs := flag.NewFlagSet("import qlm", flag.ContinueOnError)
	var o app.ImportOptions
	fs.StringVar(&o.Licenses, "licenses", "", "QLM's licenses (qryLicenseInfo) as CSV, QLM's field names as the header")
	fs.StringVar(&o.Activations, "activations", "", "QLM's activation log (qryActivationLog) as CSV: the computers of keys with several seats")
	fs.StringVar(&o.Customers, "customers", "", "QLM's customers (qryCustomerInfo) as CSV")
	fs.StringVar(&o.Provider, "provider", "qlm-import", "the lines' provider: qlm-import, or the storefront whose order numbers OrderID holds (shareit)")
	fs.StringVar(&o.Actor, "actor", os.Getenv("USER"), "who imports (on every line's record)")
	fs.StringVar(&o.DateFormat, "date-format", "", "how the files write dates, in .NET notation, when not yyyy-MM-dd or M/d/yyyy")
	fs.BoolVar(&o.DryRun, "dry-run", false, "check every row and report, import nothing")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "licenses imported at once")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 || o.Licenses == "" {
		return errUsage
	}
	a, err := openApp(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := a.ImportQLM(ctx, o, stderr)
	verb := "imported"
	if o.DryRun {
		verb = "would import"
	}
	fmt.Fprintf(stdout, "%d rows: %s %d, %d imported before, %d bad (%s)\n", rep.Rows, verb, rep.Imported, rep.Skipped, len(rep.Bad), rep.Took.Round(time.Millisecond))
	for _, b := range rep.Bad {
		fmt.Fprintf(stdout, "  %s\n", b)
	}
	return err
}

// runAudit prints an order line's story from Temporal, decoded.
func runAudit(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errUsage
	}
	a, err := openApp(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Audit(ctx, stdout, args[0])
}

// runAdminToken makes a token for the admin API and prints it with the
// line for keysmith.yaml, which keeps only its SHA-256.
func runAdminToken(args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return errUsage
	}
	token := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(token))
	fmt.Fprintf(stdout, "token (give it to %s, keep it secret; it is not stored): %s\nfor keysmith.yaml:\nadmin_tokens:\n  - {name: %q, sha256: %s}\n",
		args[0], token, args[0], hex.EncodeToString(sum[:]))
	return nil
}

func runVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dir := fs.String("keys", envOr("KEYSMITH_KEYS_DIR", ".data/keys"), "directory with public-*.pem (or signing-*.pem)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return errUsage
	}
	_, ring, err := license.LoadDir(*dir)
	if err != nil {
		return err
	}
	c, err := ring.Verify(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("key is not valid: %w", err)
	}
	now := time.Now()
	expires := "never"
	if !c.Expires.IsZero() {
		expires = c.Expires.Format(time.DateOnly)
		if c.Expired(now) {
			expires += " (expired)"
		}
	}
	maintenance := "none"
	if !c.Maintenance.IsZero() {
		maintenance = c.Maintenance.Format(time.DateOnly)
		if !now.Before(c.Maintenance) {
			maintenance += " (ended)"
		}
	}
	fmt.Fprintln(stdout, "valid key")
	for _, field := range [][2]string{
		{"product", fmt.Sprintf("%d %d.%d", c.Product, c.Major, c.Minor)},
		{"features", c.Features.String()},
		{"seats", fmt.Sprint(c.Seats)},
		{"model", license.ModelName(c.Model, c.Binding)}, // QLM's name, which includes the binding
		{"issued", c.Issued.Format(time.DateOnly)},
		{"expires", expires},
		{"maintenance", maintenance},
		{"serial", fmt.Sprintf("%016x", c.Serial)},
		{"key id", fmt.Sprint(c.KeyID)},
	} {
		fmt.Fprintf(stdout, "%-13s%s\n", field[0]+":", field[1])
	}
	return nil
}

func runHashPassword(stdin io.Reader, stdout io.Writer) error {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	h, err := config.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
