package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlmimport"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// ImportOptions are `keysmith import qlm`'s flags.
type ImportOptions struct {
	Licenses    string // qryLicenseInfo as CSV (required)
	Activations string // qryActivationLog as CSV ("": none)
	Customers   string // qryCustomerInfo as CSV ("": none)
	Provider    string // the lines' provider: "qlm-import" by default
	Actor       string // who imports (on every line's record)
	DateFormat  string // .NET notation, for dates QLM's console wrote another way
	DryRun      bool   // check and report only
	Concurrency int    // import workflows at once (16)
}

// ImportReport is what an import did.
type ImportReport struct {
	Rows, Imported, Skipped int
	Bad                     []qlmimport.RowError
	Took                    time.Duration
}

// importBatch is how many rows are checked against Postgres at once.
const importBatch = 500

// ImportQLM imports a QLM vendor's licenses: each good row becomes an
// order line through its own ImportLicense workflow; rows already imported
// are skipped (the same file again changes nothing); bad rows are reported
// and do not stop the others. Progress goes to progress every two seconds.
func (a *App) ImportQLM(ctx context.Context, o ImportOptions, progress io.Writer) (ImportReport, error) {
	start := time.Now()
	if o.Actor == "" {
		return ImportReport{}, errors.New("import: say who imports (-actor)")
	}
	o.Provider = cmp(o.Provider, "qlm-import")
	if !config.ValidProviderName(o.Provider) {
		return ImportReport{}, fmt.Errorf("import: provider %q: letters, digits, _ . - only", o.Provider)
	}
	sum, err := fileSHA256(o.Licenses)
	if err != nil {
		return ImportReport{}, fmt.Errorf("import: %w", err)
	}
	opts := qlmimport.Options{Provider: o.Provider, Config: a.Config, Today: time.Now().UTC().Truncate(24 * time.Hour)}
	if o.DateFormat != "" {
		if opts.DateLayout, err = config.DotNetLayout(o.DateFormat); err != nil {
			return ImportReport{}, fmt.Errorf("import: -date-format: %w", err)
		}
	}
	rep := &ImportReport{}
	if o.Customers != "" {
		var bad []qlmimport.RowError
		if opts.Customers, bad, err = readWith(o.Customers, qlmimport.ReadCustomers); err != nil {
			return ImportReport{}, fmt.Errorf("import: customers: %w", err)
		}
		rep.Bad = append(rep.Bad, bad...)
	}
	if o.Activations != "" {
		var bad []qlmimport.RowError
		if opts.Activations, bad, err = readWith(o.Activations, func(r io.Reader) (map[string][]qlmimport.Computer, []qlmimport.RowError, error) {
			return qlmimport.ReadActivations(r, opts)
		}); err != nil {
			return ImportReport{}, fmt.Errorf("import: activations: %w", err)
		}
		rep.Bad = append(rep.Bad, bad...)
	}

	f, err := os.Open(o.Licenses)
	if err != nil {
		return ImportReport{}, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	source := activities.ImportSource{System: "qlm", File: filepath.Base(o.Licenses), SHA256: sum, Actor: o.Actor}
	im := &importer{app: a, opts: o, source: source, rep: rep}
	im.g, ctx = errgroup.WithContext(ctx)
	im.g.SetLimit(max(o.Concurrency, 1))
	stop := im.progress(progress)
	err = qlmimport.Licenses(f, opts, func(l qlmimport.License, bad *qlmimport.RowError) error {
		im.mu.Lock()
		rep.Rows++
		im.mu.Unlock()
		if bad != nil {
			im.bad(*bad)
			return nil
		}
		im.batch = append(im.batch, l)
		if len(im.batch) >= importBatch {
			return im.flush(ctx)
		}
		return nil
	})
	if err == nil {
		err = im.flush(ctx)
	}
	if werr := im.g.Wait(); err == nil {
		err = werr
	}
	stop()
	sort.Slice(rep.Bad, func(i, j int) bool { return rep.Bad[i].Row < rep.Bad[j].Row })
	rep.Took = time.Since(start)
	if err != nil {
		return *rep, fmt.Errorf("import: %w", err)
	}
	return *rep, nil
}

// importer imports the checked rows of one file.
type importer struct {
	app    *App
	opts   ImportOptions
	source activities.ImportSource
	g      *errgroup.Group
	batch  []qlmimport.License

	mu  sync.Mutex
	rep *ImportReport
}

func (im *importer) bad(e qlmimport.RowError) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.rep.Bad = append(im.rep.Bad, e)
}

func (im *importer) count(imported, skipped int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.rep.Imported += imported
	im.rep.Skipped += skipped
}

// flush checks the batch against Postgres (legacy keys imported before are
// skipped; a line keysmith keyed itself under the same name is a bad row)
// and starts an import workflow for each of the rest.
func (im *importer) flush(ctx context.Context) error {
	batch := im.batch
	im.batch = nil
	if len(batch) == 0 {
		return nil
	}
	legacy := make([]string, len(batch))
	lines := make([]store.Line, len(batch))
	for i, l := range batch {
		legacy[i] = l.LegacyKey
		lines[i] = store.Line{Provider: l.Line.Provider, PurchaseID: l.Line.PurchaseID, RunningNo: l.Line.RunningNo}
	}
	imported, err := im.app.Store.ImportedLegacyKeys(ctx, legacy)
	if err != nil {
		return err
	}
	existing, err := im.app.Store.ExistingLines(ctx, im.opts.Provider, lines)
	if err != nil {
		return err
	}
	for i, l := range batch {
		if at, ok := imported[l.LegacyKey]; ok {
			if at != lines[i] {
				im.bad(qlmimport.RowError{Row: l.Row, Reason: fmt.Sprintf("ActivationKey: imported already as line %s", order.Name(at.Provider, at.PurchaseID, at.RunningNo))})
				continue
			}
			im.count(0, 1)
			continue
		}
		if existing[lines[i]] {
			im.bad(qlmimport.RowError{Row: l.Row, Reason: fmt.Sprintf("line %s exists already and is not this license", l.Line.ID())})
			continue
		}
		if im.opts.DryRun {
			im.count(1, 0)
			continue
		}
		im.g.Go(func() error {
			if err := im.start(ctx, l); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				im.bad(qlmimport.RowError{Row: l.Row, Reason: err.Error()})
				return nil
			}
			im.count(1, 0)
			return nil
		})
	}
	return nil
}

// start runs one license's ImportLicense workflow to its end.
func (im *importer) start(ctx context.Context, l qlmimport.License) error {
	src := im.source
	src.Row = l.Row
	imp := activities.ImportedLicense{Line: l.Line, LegacyKeys: []string{l.LegacyText}, Revoked: l.Revoked, Source: src}
	for _, c := range l.Computers {
		imp.Computers = append(imp.Computers, activities.ImportedComputer{ID: c.ID, Name: c.Name, ActivatedAt: c.ActivatedAt})
	}
	run, err := im.app.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.ImportLicenseID(l.Line.ID()),
		TaskQueue:                im.app.Env.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		TypedSearchAttributes:    workflows.ImportSearchAttributes(l.Line),
		StaticSummary:            workflows.ImportSummary(imp),
	}, workflows.ImportLicenseWorkflow, imp)
	if err != nil {
		return fmt.Errorf("start the import of %s: %w", l.Line.ID(), err)
	}
	var res workflows.ImportResult
	if err := run.Get(ctx, &res); err != nil {
		return fmt.Errorf("import of %s: %w", l.Line.ID(), err)
	}
	return nil
}

// progress writes the counts every two seconds until the returned stop.
func (im *importer) progress(w io.Writer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				im.mu.Lock()
				r := *im.rep
				im.mu.Unlock()
				fmt.Fprintf(w, "import: %d rows read, %d imported, %d already imported, %d bad\n", r.Rows, r.Imported, r.Skipped, len(r.Bad))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func readWith[T any](path string, read func(io.Reader) (T, []qlmimport.RowError, error)) (T, []qlmimport.RowError, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, nil, err
	}
	defer f.Close()
	return read(f)
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
