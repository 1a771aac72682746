package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/order"
)

// ImportLicenseWorkflow brings one license over from QLM as an order line:
// `keysmith import qlm` runs one per license, so that the line's story in
// Temporal opens with "imported from QLM, file X, row N, by Y".
const ImportLicenseWorkflow = "ImportLicense"

// ImportLicenseID is the workflow ID of an imported line: the same line is
// imported once.
func ImportLicenseID(line string) string { return ImportLicenseWorkflow + ":" + line }

// ImportResult is what ImportLicense returns: the line's keysmith keys.
type ImportResult struct {
	Keys []string
}

var importSaveLocal = workflow.LocalActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: time.Minute},
	Summary:                "save the imported customer, line, keys and computers",
}

// ForwardLicenseWorkflow records a line that QLM keyed in forward mode
// (the provider's upstream): ImportLicense under its own name, ID
// ForwardLicense:<line>.
const ForwardLicenseWorkflow = "ForwardLicense"

// ImportLicense signs the line's keysmith keys (QLM's keys stay their
// legacy keys) and stores the line with its computers. Nothing is mailed
// unless the line says so (a forward-mode provider with upstream.mail):
// the buyer has QLM's key, which keysmith now checks.
func ImportLicense(ctx workflow.Context, imp activities.ImportedLicense) (ImportResult, error) {
	var a *activities.Activities
	var keys []order.Key
	lctx := workflow.WithLocalActivityOptions(ctx, keyOptions)
	if err := workflow.ExecuteLocalActivity(lctx, a.GenerateKeys, imp.Line).Get(ctx, &keys); err != nil {
		return ImportResult{}, temporal.NewNonRetryableApplicationError(failureReason(err), KeyGenerationFailed, nil)
	}
	sctx := workflow.WithLocalActivityOptions(ctx, importSaveLocal)
	if err := workflow.ExecuteLocalActivity(sctx, a.SaveImport, imp, keys).Get(ctx, nil); err != nil {
		// Postgres down for ten minutes: go on as an activity, for as long
		// as it takes.
		actx := workflow.WithActivityOptions(ctx, saveOptions)
		if err := workflow.ExecuteActivity(actx, a.SaveImport, imp, keys).Get(ctx, nil); err != nil {
			return ImportResult{}, fmt.Errorf("save import: %w", err)
		}
	}
	if imp.Line.Email.Send && imp.Line.Customer.Email != "" {
		// QLM's keys, as the buyer's application knows them; a failure is
		// left to support (ResendEmail), the line is saved.
		mctx := workflow.WithLocalActivityOptions(ctx, emailLocalOptions)
		req := activities.EmailRequest{Line: imp.Line, Keys: legacyKeys(imp, keys), To: imp.Line.Customer.Email,
			IdempotencyKey: workflow.GetInfo(ctx).WorkflowExecution.ID + "/email"}
		status := EmailSent
		if err := workflow.ExecuteLocalActivity(mctx, a.SendEmail, req).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("Email failed", "reason", failureReason(err))
			status = EmailFailed
		}
		if err := setEmailStatus(ctx, status, ""); err != nil {
			return ImportResult{}, err
		}
	}
	return ImportResult{Keys: order.Keys(keys)}, nil
}

// legacyKeys are the line's keys as the storefront delivered them: QLM's.
func legacyKeys(imp activities.ImportedLicense, keys []order.Key) []order.Key {
	out := append([]order.Key(nil), keys...)
	for i := range out {
		if i < len(imp.LegacyKeys) {
			out[i].Key = imp.LegacyKeys[i]
		}
	}
	return out
}

// ImportSearchAttributes are an imported line's: those of a line keyed
// here, its email pending or (usually) skipped.
func ImportSearchAttributes(line order.Line) temporal.SearchAttributes {
	status := EmailSkipped
	if line.Email.Send && line.Customer.Email != "" {
		status = EmailPending
	}
	return temporal.NewSearchAttributes(
		EmailStatus.ValueSet(status), OrderLine.ValueSet(line.ID()), Provider.ValueSet(line.Provider),
		Product.ValueSet(fmt.Sprintf("%d %d.%d", line.Product.ID, line.Product.Major, line.Product.Minor)),
		OrderDate.ValueSet(line.OrderDate), LicenseModel.ValueSet(line.Model))
}

// ImportSummary is an imported line's summary in the Temporal UI.
func ImportSummary(imp activities.ImportedLicense) string {
	s := imp.Source
	if s.System == "qlm-forward" {
		return fmt.Sprintf("keyed by QLM at %s in forward mode, for %s; QLM's key kept as the legacy key", s.File, s.Actor)
	}
	return fmt.Sprintf("imported from %s: file %s (sha256 %.12s) row %d, by %s", strings.ToUpper(s.System), s.File, s.SHA256, s.Row, s.Actor)
}

// ExchangeLegacyKeyWorkflow records, in the line's story, that an
// application exchanged the line's legacy (QLM) key for its keysmith key
// (/v1/exchange): once per line and computer.
const ExchangeLegacyKeyWorkflow = "ExchangeLegacyKey"

// ExchangeLegacyKeyID is the workflow ID of an exchange: the same computer
// exchanging again is the same exchange.
func ExchangeLegacyKeyID(line, computerID string) string {
	sum := sha256.Sum256([]byte(computerID))
	return ExchangeLegacyKeyWorkflow + ":" + line + "/" + hex.EncodeToString(sum[:6])
}

// Exchange is the input of ExchangeLegacyKey.
type Exchange struct {
	Line         string // the order line: "qlm-import:123456-1"
	ComputerID   string
	ComputerName string
}

// ExchangeLegacyKey records the exchange as a support action of the
// application on that computer.
func ExchangeLegacyKey(ctx workflow.Context, e Exchange) error {
	who := "application on computer " + e.ComputerID
	if e.ComputerName != "" {
		who += " (" + e.ComputerName + ")"
	}
	return recordSupport(ctx, activities.SupportRecord{
		Line: e.Line, Action: "exchange-legacy-key", Actor: who,
		Reason:    "the application exchanged its legacy key for its keysmith key",
		RequestID: workflow.GetInfo(ctx).WorkflowExecution.ID,
	})
}
