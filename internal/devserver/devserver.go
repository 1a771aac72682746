// Package devserver starts a local Temporal dev server (the temporal CLI
// built into bin/) tuned for keysmith: for `keysmith dev` and for tests.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/keysmith/keysmith/workflows"
)

// tuning removes the stock dev server's floor of ~150 ms per order (its
// transfer queue polls 20 times a second) and the 2 s tails of its four
// task-queue partitions, and makes a file-backed store fast enough.
var tuning = []string{
	"--dynamic-config-value", "history.transferProcessorMaxPollRPS=10000",
	"--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
	"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
	"--dynamic-config-value", "system.enableActivityEagerExecution=true",
}

var sqliteTuning = []string{"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=1"}

// Options of a dev server. Zero values: a free port, in memory, no UI.
type Options struct {
	Bin      string // path to the temporal CLI; "" finds it (Bin)
	HostPort string
	DBFile   string
	UIPort   string
	// UICodecEndpoint is the codec server the UI decodes payloads through.
	UICodecEndpoint string
	Log             io.Writer // server output; nil discards it
}

// Start starts the server and waits until it answers. Stop it with Stop.
func Start(ctx context.Context, o Options) (*testsuite.DevServer, error) {
	bin := o.Bin
	if bin == "" {
		var err error
		if bin, err = Bin(); err != nil {
			return nil, err
		}
	}
	args := append([]string{}, tuning...)
	if o.DBFile != "" {
		args = append(args, sqliteTuning...)
	}
	if o.UICodecEndpoint != "" {
		args = append(args, "--ui-codec-endpoint", o.UICodecEndpoint)
	}
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	return testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     bin,
		ClientOptions:    &client.Options{HostPort: o.HostPort, Logger: quiet{}},
		DBFilename:       o.DBFile,
		EnableUI:         o.UIPort != "",
		UIPort:           o.UIPort,
		LogLevel:         "warn",
		SearchAttributes: workflows.SearchAttributes(),
		ExtraArgs:        args,
		Stdout:           out,
		Stderr:           out,
	})
}

// Bin finds the temporal CLI: $KEYSMITH_TEMPORAL_BIN, else bin/temporal in
// the module root above the working directory (make builds it there).
func Bin() (string, error) {
	if p := os.Getenv("KEYSMITH_TEMPORAL_BIN"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bin", "temporal")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("no temporal CLI at %s: run `make bin/temporal`", p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no temporal CLI: set KEYSMITH_TEMPORAL_BIN or run `make bin/temporal`")
		}
		dir = parent
	}
}

// quiet drops the SDK client's own logging of the dev server's client.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
