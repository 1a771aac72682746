package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/app"
	"github.com/keysmith/keysmith/internal/devserver"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
)

// dataDir holds everything `keysmith dev` creates: Temporal's database,
// the demo configuration and credentials, the signing key, the outbox.
const dataDir = ".data"

// runDev brings up the whole stack on this machine and runs until ctx ends.
func runDev(ctx context.Context, stdout io.Writer) error {
	e, err := app.LoadEnv()
	if err != nil {
		return err
	}
	if _, ok := os.LookupEnv("KEYSMITH_CONFIG"); !ok {
		e.ConfigFile = filepath.Join(dataDir, "keysmith.yaml")
	}
	if _, ok := os.LookupEnv("KEYSMITH_METRICS_LISTEN"); !ok {
		e.MetricsListen = "" // one process: the API serves /metrics for both
	}
	log := e.Logger()
	password, err := demoConfig(e.ConfigFile)
	if err != nil {
		return err
	}
	if err := demoSigningKey(e.KeysDir); err != nil {
		return err
	}
	cdc, err := demoCodec(&e)
	if err != nil {
		return err
	}
	if err := store.CreateDatabase(ctx, e.DatabaseURL); err != nil {
		return err
	}

	var temporalAddress string // "" = Temporal's own environment variables
	if os.Getenv("TEMPORAL_ADDRESS") == "" {
		log.Info("Starting Temporal dev server", "address", "127.0.0.1:7233", "ui", "http://localhost:8233")
		srvLog, err := os.OpenFile(filepath.Join(dataDir, "temporal.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer srvLog.Close()
		srv, err := devserver.Start(ctx, devserver.Options{
			HostPort: "127.0.0.1:7233",
			DBFile:   filepath.Join(dataDir, "temporal.db"),
			UIPort:   "8233",
			// The UI decodes payloads through keysmith's codec server.
			UICodecEndpoint: codecURL(e.CodecListen),
			Log:             srvLog,
		})
		if err != nil {
			return fmt.Errorf("temporal dev server (log in %s): %w", srvLog.Name(), err)
		}
		defer srv.Stop() //nolint:errcheck // shutting down
		temporalAddress = srv.FrontendHostPort()
	}

	a, err := app.Open(ctx, e, temporalAddress)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := store.Migrate(ctx, a.DB); err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.RunWorker(ctx) })
	g.Go(func() error { return a.Serve(ctx) })
	g.Go(func() error { return app.CodecServer(ctx, e, cdc, log) })
	printDemo(stdout, e.Listen, password)
	fmt.Fprintf(stdout, `Payloads are encrypted in Temporal's database; the UI decodes them through the codec
server at %[1]s. The CLI too:
  bin/temporal workflow show -w <workflow id> --codec-endpoint %[1]s --codec-auth "Bearer $(cat %[2]s/codec-token)"

Support desk and audit, from another shell:
  KEYSMITH_CONFIG=%[2]s/keysmith.yaml bin/keysmith support find -purchase <PURCHASE_ID>
  KEYSMITH_CONFIG=%[2]s/keysmith.yaml bin/keysmith audit shareit:<PURCHASE_ID>-1

`, codecURL(e.CodecListen), dataDir)
	return g.Wait()
}

// demoConfig writes a configuration with a demo product and ShareIt
// credentials unless the file exists. It returns the demo password, kept
// beside it so that every start can print a working curl command.
func demoConfig(path string) (string, error) {
	pwFile := filepath.Join(filepath.Dir(path), "demo-password")
	if _, err := os.Stat(path); err == nil {
		pw, err := os.ReadFile(pwFile)
		if err != nil {
			return "<your is_pwd>", nil // not a demo configuration
		}
		return strings.TrimSpace(string(pw)), nil
	}
	password := rand.Text()[:16]
	hash, err := config.HashPassword(password)
	if err != nil {
		return "", err
	}
	doc := fmt.Sprintf(`# Written by keysmith dev: a demo provider and product. See deploy/keysmith.yaml.
providers:
  - name: shareit
    user: shareit
    password_hash: %q
    encoding: utf-8
    products:
      "300000001": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
products:
  - id: 1
    name: Demo App
    major: 1
    minor: 0
    features:
      0: [Pro, Export]
      1: [Cloud sync]
mail:
  from: "Demo Vendor <keys@demo-vendor.example>"
`, hash)
	if _, err := config.Parse([]byte(doc)); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		return "", err
	}
	return password, os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
}

// codecURL is the codec server's address for the browser and the CLI.
func codecURL(listen string) string {
	_, port, _ := strings.Cut(listen, ":")
	return "http://localhost:" + port
}

// demoCodec makes the payload codec's key and the codec server's token
// under .data unless they exist, and has the codec server listen on
// loopback for the UI of the dev server (trusted by its origin).
func demoCodec(e *app.Env) (*codec.Codec, error) {
	if e.CodecKeys == "" {
		if _, err := codec.LoadDir(e.CodecKeysDir); err != nil {
			if _, err := codec.WriteKey(e.CodecKeysDir, 1); err != nil {
				return nil, err
			}
		}
	}
	if e.CodecToken == "" {
		tokenFile := filepath.Join(dataDir, "codec-token")
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			b = []byte(rand.Text())
			if err := os.WriteFile(tokenFile, b, 0o600); err != nil {
				return nil, err
			}
		}
		e.CodecToken = strings.TrimSpace(string(b))
	}
	if _, ok := os.LookupEnv("KEYSMITH_CODEC_LISTEN"); !ok {
		e.CodecListen = "127.0.0.1:8081"
	}
	if len(e.CodecOrigins) == 0 {
		e.CodecOrigins = []string{"http://localhost:8233", "http://127.0.0.1:8233"}
		e.CodecTrustOrigins = true // the dev server's UI, on loopback
	}
	return e.Codec()
}

func demoSigningKey(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	signer, _, err := license.LoadDir(dir)
	if err != nil || signer != nil {
		return err
	}
	k, err := license.GenerateSigningKey(1)
	if err != nil {
		return err
	}
	return license.WriteKeyPair(dir, k)
}

func printDemo(w io.Writer, listen, password string) {
	port := listen[strings.LastIndex(listen, ":")+1:]
	purchase := time.Now().Format("20060102150405")
	fmt.Fprintf(w, `
keysmith is running: API on http://localhost:%[1]s, Temporal UI on http://localhost:8233
Mail goes to %[4]s/outbox/ (set RESEND_API_KEY to send through Resend). Ctrl-C stops everything.

Issue a key the way ShareIt calls (run it twice: same order, same key):

curl -sS 'http://localhost:%[1]s/qlmservice.asmx/GetActivationKey?is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_features=0:3&is_user=shareit&is_pwd=%[2]s' \
  -d PURCHASE_ID=%[3]s -d RUNNING_NO=1 -d PURCHASE_DATE=%[5]s -d PRODUCT_ID=300000001 -d QUANTITY=1 \
  -d ENCODING=UTF8 --data-urlencode 'FIRSTNAME=Jürgen' --data-urlencode 'LASTNAME=Müller' \
  -d COMPANY=Example -d EMAIL=buyer@example.com -d COUNTRY=Germany -d ISO_CODE=DE

Then: bin/keysmith verify <key>

`, port, password, purchase, dataDir, time.Now().Format("02/01/2006"))
}
