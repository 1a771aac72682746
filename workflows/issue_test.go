package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/workflows"
)

// workflowID is the ID the API gives the test line's workflow; the API also
// uses it as the issue-key update ID.
var workflowID = workflows.IssueLicenseID("shareit", "548712391", "1")

// testKeys are the keys GenerateKeys returns for n licenses.
func testKeys(n int) []order.Key {
	all := []order.Key{
		{Key: "KSM2-300123-AAQB-7XQ4-M2PL-ZK9D", Serial: "9f86d081884c7d65", Seats: 3},
		{Key: "KSM2-300123-AAQC-H3RW-Q8VN-B1TE", Serial: "2c26b46b68ffc68f", Seats: 3},
	}
	return all[:n]
}

const permanentReason = "resend: 422 validation_error: Invalid `to` field"

func permanentMailError() error {
	return temporal.NewNonRetryableApplicationError(permanentReason, "MailPermanent", nil)
}

// fixture is a test workflow environment with the real activities
// registered and EmailStatus upserts recorded.
type fixture struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	acts  *activities.Activities
	start time.Time // the workflow's start, in the environment's clock

	mu         sync.Mutex
	statuses   []string                   // EmailStatus values upserted, in order
	deliveries []string                   // Delivery values upserted, in order
	recorded   []activities.SupportRecord // support actions recorded
}

func (f *fixture) records() []activities.SupportRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]activities.SupportRecord(nil), f.recorded...)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr,
		&slog.HandlerOptions{Level: slog.LevelError}))))
	f := &fixture{t: t, env: suite.NewTestWorkflowEnvironment(), acts: &activities.Activities{}}
	f.env.RegisterActivity(f.acts)
	// Support actions are recorded; tests read them with f.records.
	f.env.OnActivity(f.acts.RecordSupportAction, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.SupportRecord) error {
			f.mu.Lock()
			f.recorded = append(f.recorded, r)
			f.mu.Unlock()
			return nil
		}).Maybe()
	// The test environment's clock starts at the wall clock's: it gives a
	// local activity retried after a backoff timer a deadline from its own
	// clock but checks it against the wall clock, so an earlier start would
	// time every retry out.
	f.start = time.Now().UTC().Truncate(time.Second)
	f.env.SetStartTime(f.start)
	f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflowID, TaskQueue: workflows.TaskQueue})
	// The API starts the workflow with EmailStatus = pending.
	require.NoError(t, f.env.SetTypedSearchAttributesOnStart(
		temporal.NewSearchAttributes(workflows.EmailStatus.ValueSet(workflows.EmailPending))))
	f.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if sa.ContainsKey(temporal.NewSearchAttributeKeyKeywordList("TemporalChangeVersion")) {
			return // workflow.GetVersion's own
		}
		if d, ok := sa.GetKeyword(workflows.Delivery); ok {
			f.mu.Lock()
			f.deliveries = append(f.deliveries, d)
			f.mu.Unlock()
		}
		v, ok := sa.GetKeyword(workflows.EmailStatus)
		if _, line := sa.GetKeyword(workflows.OrderLine); line && !ok {
			return // a support workflow joining its order line
		}
		if _, delivery := sa.GetKeyword(workflows.Delivery); delivery && !ok {
			return
		}
		require.True(t, ok, "upsert without EmailStatus or OrderLine: %v", sa)
		f.mu.Lock()
		f.statuses = append(f.statuses, v)
		f.mu.Unlock()
	}).Maybe()
	return f
}

// emailStatuses returns the EmailStatus values upserted so far.
func (f *fixture) emailStatuses() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.statuses...)
}

// lastEmailStatus is the current value of the EmailStatus search attribute.
func (f *fixture) lastEmailStatus() string {
	s := f.emailStatuses()
	if len(s) == 0 {
		return workflows.EmailPending
	}
	return s[len(s)-1]
}

// currentDetails reads workflow.GetCurrentDetails through the built-in
// metadata query, as the Temporal UI does.
func (f *fixture) currentDetails() string {
	f.t.Helper()
	v, err := f.env.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(f.t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(f.t, v.Get(&md))
	return md.GetCurrentDetails()
}

// calls records the arguments of a mocked activity.
type calls[T any] struct {
	mu   sync.Mutex
	args []T
}

func (c *calls[T]) add(v T) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.args = append(c.args, v)
	return len(c.args)
}

func (c *calls[T]) all() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.args...)
}

type saveCall struct {
	line     order.Line
	keys     []order.Key
	delivery activities.Delivery
}

// mockKeys makes GenerateKeys (a local activity) return keys, recording
// the lines it is called with.
func (f *fixture) mockKeys(keys []order.Key) *calls[order.Line] {
	c := &calls[order.Line]{}
	f.env.OnActivity(f.acts.GenerateKeys, mock.Anything, mock.Anything).
		Return(func(_ context.Context, line order.Line) ([]order.Key, error) {
			c.add(line)
			return keys, nil
		})
	return c
}

// mockSave makes SaveOrder succeed after d of workflow time.
func (f *fixture) mockSave(d time.Duration) *calls[saveCall] {
	c := &calls[saveCall]{}
	f.env.OnActivity(f.acts.SaveOrder, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		After(d).
		Return(func(_ context.Context, line order.Line, keys []order.Key, delivery activities.Delivery) error {
			c.add(saveCall{line, keys, delivery})
			return nil
		})
	return c
}

type emailCall struct {
	req     activities.EmailRequest
	attempt int32
	at      time.Time
}

// mockEmail makes SendEmail answer the n-th call (from 1) with result(n).
func (f *fixture) mockEmail(d time.Duration, result func(n int) (string, error)) *calls[emailCall] {
	c := &calls[emailCall]{}
	f.env.OnActivity(f.acts.SendEmail, mock.Anything, mock.Anything).
		After(d).
		Return(func(ctx context.Context, req activities.EmailRequest) (string, error) {
			n := c.add(emailCall{req: req, attempt: activity.GetInfo(ctx).Attempt, at: f.env.Now()})
			return result(n)
		})
	return c
}

// failFirst fails the first n sends for good, then sends.
func failFirst(n int) func(int) (string, error) {
	return func(call int) (string, error) {
		if call <= n {
			return "", permanentMailError()
		}
		return fmt.Sprintf("re_%d", call), nil
	}
}

func emailOK(n int) (string, error) { return "re_" + strings.Repeat("x", n), nil }

// updateState is what the update callbacks saw.
type updateState struct {
	accepted  bool
	rejected  error
	completed int // number of OnComplete calls
	value     any
	err       error
}

// outcome collects the callbacks of one update.
type outcome struct {
	mu sync.Mutex
	updateState
}

func (o *outcome) get() updateState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.updateState
}

// sendUpdate sends an update at delay d of workflow time.
func (f *fixture) sendUpdate(d time.Duration, name, id string, args ...any) *outcome {
	o := &outcome{}
	f.env.RegisterDelayedCallback(func() { f.update(o, name, id, args...) }, d)
	return o
}

// update sends an update now; call it from a delayed callback.
func (f *fixture) update(o *outcome, name, id string, args ...any) {
	f.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() {
			o.mu.Lock()
			o.accepted = true
			o.mu.Unlock()
		},
		OnReject: func(err error) {
			o.mu.Lock()
			o.rejected = err
			o.mu.Unlock()
		},
		OnComplete: func(v any, err error) {
			o.mu.Lock()
			o.completed++
			o.value, o.err = v, err
			o.mu.Unlock()
		},
	}, args...)
}

// issueKey mimics the API's Update-With-Start: the update comes with the
// first workflow task, under the workflow ID as update ID.
func (f *fixture) issueKey() *outcome {
	return f.sendUpdate(0, workflows.IssueKeyUpdate, workflowID)
}

func (f *fixture) run(line order.Line) {
	f.env.ExecuteWorkflow(workflows.IssueLicense, line)
	require.True(f.t, f.env.IsWorkflowCompleted(), "workflow did not complete")
}

func (f *fixture) result() workflows.Result {
	f.t.Helper()
	require.NoError(f.t, f.env.GetWorkflowError())
	var res workflows.Result
	require.NoError(f.t, f.env.GetWorkflowResult(&res))
	return res
}

// requireKeys checks that an issue-key update completed with keys.
func requireKeys(t *testing.T, o *outcome, keys []order.Key) {
	t.Helper()
	got := o.get()
	require.True(t, got.accepted, "issue-key update not accepted (rejected: %v)", got.rejected)
	require.Equal(t, 1, got.completed, "issue-key update completions")
	require.NoError(t, got.err)
	assert.Equal(t, order.Keys(keys), got.value)
}

func TestIssueLicenseSendsEmail(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []order.Key
	}{
		{"one key", testKeys(1)},
		{"two keys", testKeys(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			line := testenv.OrderLine("548712391")
			line.Quantity, line.KeyCount = len(tc.keys), len(tc.keys)

			gen := f.mockKeys(tc.keys)
			save := f.mockSave(time.Minute)
			email := f.mockEmail(0, emailOK)
			upd := f.issueKey()

			// The storefront gets the keys before the order is saved.
			var beforeSave updateState
			var saves, emails int
			f.env.RegisterDelayedCallback(func() {
				beforeSave = upd.get()
				saves, emails = len(save.all()), len(email.all())
				assert.False(t, f.env.IsWorkflowCompleted())
			}, 30*time.Second)

			f.run(line)

			assert.Equal(t, 1, beforeSave.completed, "issue-key update done before SaveOrder returned")
			assert.Equal(t, order.Keys(tc.keys), beforeSave.value)
			assert.Zero(t, saves, "SaveOrder returned before 30s")
			assert.Zero(t, emails, "SendEmail called before SaveOrder returned")
			requireKeys(t, upd, tc.keys)

			assert.Equal(t, []order.Line{line}, gen.all(), "GenerateKeys input")
			assert.Equal(t, []saveCall{{line: line, keys: tc.keys}}, save.all(), "SaveOrder input")

			calls := email.all()
			require.Len(t, calls, 1, "SendEmail calls")
			req := calls[0].req
			assert.Equal(t, "ada.buyer@example.com", req.To)
			assert.True(t, strings.HasSuffix(req.IdempotencyKey, "/email/1"), req.IdempotencyKey)
			assert.Equal(t, workflowID+"/email/1", req.IdempotencyKey)
			assert.Equal(t, line, req.Line)
			assert.Equal(t, tc.keys, req.Keys)

			assert.Equal(t, workflows.Result{Keys: order.Keys(tc.keys), EmailStatus: workflows.EmailSent}, f.result())
			assert.Equal(t, []string{workflows.EmailSent}, f.emailStatuses())
			f.env.AssertActivityNumberOfCalls(t, "GenerateKeys", 1)
			f.env.AssertActivityNumberOfCalls(t, "SaveOrder", 1)
			f.env.AssertActivityNumberOfCalls(t, "SendEmail", 1)
		})
	}
}

// TestIssueLicenseTaskKinds: only the save is an activity task; the keys and
// the email are local activities, run by the worker inside workflow tasks
// (emailLocalVersion), which keeps an order to two workflow tasks.
func TestIssueLicenseTaskKinds(t *testing.T) {
	f := newFixture(t)
	f.mockKeys(testKeys(1))
	f.mockSave(0)
	f.mockEmail(0, emailOK)
	f.issueKey()
	var local, remote []string
	f.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		local = append(local, info.ActivityType.Name)
	})
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		remote = append(remote, info.ActivityType.Name)
	})

	f.run(testenv.OrderLine("548712391"))

	assert.Equal(t, []string{"GenerateKeys", "SendEmail"}, local, "local activities")
	assert.Equal(t, []string{"SaveOrder"}, remote, "activity tasks")
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
}

func TestIssueLicenseSkipsEmail(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*order.Line)
	}{
		{"email disabled", func(l *order.Line) { l.Email.Send = false }},
		{"no customer email", func(l *order.Line) { l.Customer.Email = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			line := testenv.OrderLine("548712391")
			tc.edit(&line)
			keys := testKeys(1)

			f.mockKeys(keys)
			save := f.mockSave(0)
			f.mockEmail(0, emailOK)
			upd := f.issueKey()

			f.run(line)

			requireKeys(t, upd, keys)
			assert.Equal(t, []saveCall{{line: line, keys: keys}}, save.all())
			f.env.AssertActivityNotCalled(t, "SendEmail", mock.Anything, mock.Anything)
			f.env.AssertActivityNumberOfCalls(t, "SendEmail", 0)
			assert.Equal(t, workflows.Result{Keys: order.Keys(keys), EmailStatus: workflows.EmailSkipped}, f.result())
			assert.Equal(t, []string{workflows.EmailSkipped}, f.emailStatuses())
		})
	}
}

func TestIssueLicenseDefaultsOrderDateToStart(t *testing.T) {
	f := newFixture(t)
	// Start in a non-UTC zone: the workflow stores the date in UTC.
	start := time.Date(2025, 6, 1, 0, 34, 56, 789000000, time.FixedZone("CEST", 2*60*60))
	f.env.SetStartTime(start)
	want := f.env.Now()
	require.True(t, want.Equal(start))

	line := testenv.OrderLine("548712391")
	line.OrderDate = time.Time{}
	keys := testKeys(1)
	gen := f.mockKeys(keys)
	save := f.mockSave(0)
	email := f.mockEmail(0, emailOK)
	f.issueKey()

	f.run(line)
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)

	gens, saves, emails := gen.all(), save.all(), email.all()
	require.Len(t, gens, 1)
	require.Len(t, saves, 1)
	require.Len(t, emails, 1)
	for name, got := range map[string]order.Line{
		"GenerateKeys": gens[0], "SaveOrder": saves[0].line, "SendEmail": emails[0].req.Line,
	} {
		d := got.OrderDate
		assert.False(t, d.IsZero(), "%s: zero OrderDate", name)
		assert.True(t, d.Equal(want), "%s: OrderDate %v, want the start time %v", name, d, want)
		assert.Equal(t, time.UTC, d.Location(), "%s: OrderDate location", name)
		// The keys are issued on the UTC day of the start.
		assert.Equal(t, time.Date(2025, 5, 31, 0, 0, 0, 0, time.UTC), got.IssueDate(), name)
	}
}

func TestIssueLicenseParksPermanentEmailFailure(t *testing.T) {
	f := newFixture(t)
	line := testenv.OrderLine("548712391")
	keys := testKeys(2)
	line.Quantity, line.KeyCount = 2, 2

	f.mockKeys(keys)
	save := f.mockSave(0)
	email := f.mockEmail(0, failFirst(1))
	upd := f.issueKey()

	retry := &outcome{}
	var parkedStatus, parkedDetails string
	var parkedEmails int
	f.env.RegisterDelayedCallback(func() {
		require.False(t, f.env.IsWorkflowCompleted(), "workflow completed instead of parking")
		parkedStatus = f.lastEmailStatus()
		parkedDetails = f.currentDetails()
		parkedEmails = len(email.all())
		f.update(retry, workflows.RetryEmailUpdate, "retry-1", workflows.RetryEmail{To: "fixed@example.com", Actor: "Sam Support"})
	}, time.Hour)

	f.run(line)

	requireKeys(t, upd, keys)
	assert.Len(t, save.all(), 1)

	// Parked.
	assert.Equal(t, workflows.EmailFailed, parkedStatus)
	assert.Equal(t, "email failed: "+permanentReason, parkedDetails)
	assert.Contains(t, parkedDetails, "email failed: resend: 422")
	assert.Equal(t, 1, parkedEmails, "a permanent failure is not retried by the activity retry policy")

	// Retried.
	r := retry.get()
	require.True(t, r.accepted, "retry-email rejected: %v", r.rejected)
	require.Equal(t, 1, r.completed)
	require.NoError(t, r.err)
	assert.Equal(t, "email sent", r.value)

	calls := email.all()
	require.Len(t, calls, 2)
	assert.Equal(t, "ada.buyer@example.com", calls[0].req.To)
	assert.Equal(t, workflowID+"/email/1", calls[0].req.IdempotencyKey)
	assert.Equal(t, "fixed@example.com", calls[1].req.To)
	assert.True(t, strings.HasSuffix(calls[1].req.IdempotencyKey, "/email/2"), calls[1].req.IdempotencyKey)
	assert.Equal(t, workflowID+"/email/2", calls[1].req.IdempotencyKey)
	assert.Equal(t, keys, calls[1].req.Keys)
	assert.Equal(t, line, calls[1].req.Line, "the retry mails the same line; only To changes")
	assert.True(t, calls[1].at.Equal(f.start.Add(time.Hour)),
		"second send at %v, want only after the retry", calls[1].at)

	assert.Equal(t, workflows.Result{Keys: order.Keys(keys), EmailStatus: workflows.EmailSent}, f.result())
	assert.Equal(t, []string{workflows.EmailFailed, workflows.EmailSent}, f.emailStatuses())
	assert.Equal(t, "", f.currentDetails(), "details cleared after the email went out")

	// On the record: who asked, what was sent where.
	assert.Equal(t, []activities.SupportRecord{{
		Line: "shareit:548712391-1", Action: workflows.RetryEmailUpdate, Actor: "Sam Support",
		To: "fixed@example.com", EmailID: "re_2", RequestID: "retry-1",
	}}, f.records())
}

func TestRetryEmailRejectedWhenNothingParked(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"with the start", 0},
		{"while sending", time.Second},
		{"late in the send", 3 * time.Minute}, // SendEmail takes 5 minutes
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			keys := testKeys(1)
			f.mockKeys(keys)
			f.mockSave(0)
			email := f.mockEmail(5*time.Minute, emailOK)
			upd := f.issueKey()
			retry := f.sendUpdate(tc.delay, workflows.RetryEmailUpdate, "retry-1", workflows.RetryEmail{Actor: "Sam Support"})

			f.run(testenv.OrderLine("548712391"))

			requireKeys(t, upd, keys)
			r := retry.get()
			assert.False(t, r.accepted)
			assert.Zero(t, r.completed)
			require.Error(t, r.rejected)
			assert.Contains(t, r.rejected.Error(), "no email is waiting to be retried for this order")
			assert.Len(t, email.all(), 1)
			assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
			assert.Equal(t, []string{workflows.EmailSent}, f.emailStatuses())
		})
	}
}

func TestRetryEmailValidatesAddress(t *testing.T) {
	f := newFixture(t)
	keys := testKeys(1)
	f.mockKeys(keys)
	f.mockSave(0)
	email := f.mockEmail(0, failFirst(1))
	f.issueKey()

	bad := f.sendUpdate(time.Hour, workflows.RetryEmailUpdate, "retry-bad", workflows.RetryEmail{To: "not an address", Actor: "Sam Support"})
	named := f.sendUpdate(time.Hour+time.Second, workflows.RetryEmailUpdate, "retry-named",
		workflows.RetryEmail{To: "Ada <ada@example.com>", Actor: "Sam Support"})
	var emailsAfterBad int
	var statusAfterBad string
	f.env.RegisterDelayedCallback(func() {
		emailsAfterBad = len(email.all())
		statusAfterBad = f.lastEmailStatus()
	}, time.Hour+time.Minute)
	// An empty To keeps the buyer's address.
	good := f.sendUpdate(2*time.Hour, workflows.RetryEmailUpdate, "retry-good", workflows.RetryEmail{Actor: "Sam Support"})

	f.run(testenv.OrderLine("548712391"))

	for name, o := range map[string]*outcome{"not an address": bad, "display name": named} {
		r := o.get()
		assert.False(t, r.accepted, name)
		assert.Zero(t, r.completed, name)
		if assert.Error(t, r.rejected, name) {
			assert.Contains(t, r.rejected.Error(), "is not an email address", name)
		}
	}
	assert.EqualError(t, bad.get().rejected, `"not an address" is not an email address`)
	assert.Equal(t, 1, emailsAfterBad, "a rejected retry sends nothing")
	assert.Equal(t, workflows.EmailFailed, statusAfterBad, "a rejected retry leaves the email parked")

	r := good.get()
	require.True(t, r.accepted, "retry rejected: %v", r.rejected)
	assert.Equal(t, "email sent", r.value)
	calls := email.all()
	require.Len(t, calls, 2)
	assert.Equal(t, "ada.buyer@example.com", calls[1].req.To)
	assert.Equal(t, workflowID+"/email/2", calls[1].req.IdempotencyKey)
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
}

func TestRetryEmailOnlyOneAtATime(t *testing.T) {
	f := newFixture(t)
	keys := testKeys(1)
	f.mockKeys(keys)
	f.mockSave(0)
	email := f.mockEmail(0, failFirst(1))
	first, second := &outcome{}, &outcome{}
	f.issueKey()
	f.env.RegisterDelayedCallback(func() {
		// Both arrive in the same workflow task.
		f.update(first, workflows.RetryEmailUpdate, "retry-1", workflows.RetryEmail{To: "first@example.com", Actor: "Sam Support"})
		f.update(second, workflows.RetryEmailUpdate, "retry-2", workflows.RetryEmail{To: "second@example.com", Actor: "Sam Support"})
	}, time.Hour)

	f.run(testenv.OrderLine("548712391"))

	r1, r2 := first.get(), second.get()
	require.True(t, r1.accepted, "first retry rejected: %v", r1.rejected)
	assert.Equal(t, "email sent", r1.value)
	assert.False(t, r2.accepted)
	if assert.Error(t, r2.rejected) {
		assert.Contains(t, r2.rejected.Error(), "no email is waiting to be retried")
	}
	calls := email.all()
	require.Len(t, calls, 2)
	assert.Equal(t, "first@example.com", calls[1].req.To)
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
}

func TestRetryEmailThatFailsAgainParksAgain(t *testing.T) {
	f := newFixture(t)
	keys := testKeys(1)
	f.mockKeys(keys)
	f.mockSave(0)
	email := f.mockEmail(0, failFirst(2))
	f.issueKey()
	retry1 := f.sendUpdate(time.Hour, workflows.RetryEmailUpdate, "retry-1", workflows.RetryEmail{To: "typo@example.con", Actor: "Sam Support"})
	var details string
	f.env.RegisterDelayedCallback(func() { details = f.currentDetails() }, 90*time.Minute)
	retry2 := f.sendUpdate(2*time.Hour, workflows.RetryEmailUpdate, "retry-2", workflows.RetryEmail{Actor: "Sam Support"})

	f.run(testenv.OrderLine("548712391"))

	r1 := retry1.get()
	require.True(t, r1.accepted, "rejected: %v", r1.rejected)
	require.Equal(t, 1, r1.completed)
	assert.EqualError(t, r1.err, "email failed: "+permanentReason)
	assert.Equal(t, "email failed: "+permanentReason, details)

	r2 := retry2.get()
	require.True(t, r2.accepted, "rejected: %v", r2.rejected)
	assert.NoError(t, r2.err)
	assert.Equal(t, "email sent", r2.value)

	calls := email.all()
	require.Len(t, calls, 3)
	var got [][2]string
	for _, c := range calls {
		got = append(got, [2]string{c.req.To, c.req.IdempotencyKey})
	}
	assert.Equal(t, [][2]string{
		{"ada.buyer@example.com", workflowID + "/email/1"},
		{"typo@example.con", workflowID + "/email/2"},
		// An empty To keeps the last corrected address.
		{"typo@example.con", workflowID + "/email/3"},
	}, got)
	assert.Equal(t, []string{workflows.EmailFailed, workflows.EmailFailed, workflows.EmailSent}, f.emailStatuses())
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
}

func TestIssueLicenseRetriesTransientEmailFailure(t *testing.T) {
	f := newFixture(t)
	keys := testKeys(1)
	f.mockKeys(keys)
	f.mockSave(0)
	email := f.mockEmail(0, func(n int) (string, error) {
		if n <= 2 {
			return "", temporal.NewApplicationError("resend: 429 rate_limit_exceeded", "MailTransient")
		}
		return "re_3", nil
	})
	upd := f.issueKey()

	f.run(testenv.OrderLine("548712391"))

	requireKeys(t, upd, keys)
	f.env.AssertActivityNumberOfCalls(t, "SendEmail", 3)
	calls := email.all()
	require.Len(t, calls, 3)
	for i, c := range calls {
		assert.Equal(t, int32(i+1), c.attempt, "activity attempt")
		assert.Equal(t, workflowID+"/email/1", c.req.IdempotencyKey, "activity retries reuse the idempotency key")
		assert.Equal(t, "ada.buyer@example.com", c.req.To)
	}
	// Backoff: 1s, then 2s.
	assert.Equal(t, time.Second, calls[1].at.Sub(calls[0].at))
	assert.Equal(t, 2*time.Second, calls[2].at.Sub(calls[1].at))
	assert.Equal(t, workflows.Result{Keys: order.Keys(keys), EmailStatus: workflows.EmailSent}, f.result())
	assert.Equal(t, []string{workflows.EmailSent}, f.emailStatuses(), "never shown as failed")
}

func TestIssueLicenseParksAfterEmailAttempts(t *testing.T) {
	f := newFixture(t)
	keys := testKeys(1)
	f.mockKeys(keys)
	f.mockSave(0)
	email := f.mockEmail(0, func(n int) (string, error) {
		if n <= activities.EmailAttempts {
			return "", temporal.NewApplicationError("resend: 503 service unavailable", "MailTransient")
		}
		return "re_ok", nil
	})
	f.issueKey()
	var status, details string
	var sends int
	f.env.RegisterDelayedCallback(func() {
		status, details, sends = f.lastEmailStatus(), f.currentDetails(), len(email.all())
		f.update(&outcome{}, workflows.RetryEmailUpdate, "retry-1", workflows.RetryEmail{Actor: "Sam Support"})
	}, 6*time.Hour)

	f.run(testenv.OrderLine("548712391"))

	assert.Equal(t, activities.EmailAttempts, sends)
	assert.Equal(t, workflows.EmailFailed, status)
	assert.Equal(t, "email failed: resend: 503 service unavailable", details)
	calls := email.all()
	require.Len(t, calls, activities.EmailAttempts+1)
	assert.Equal(t, int32(activities.EmailAttempts), calls[activities.EmailAttempts-1].attempt)
	assert.Equal(t, workflowID+"/email/2", calls[activities.EmailAttempts].req.IdempotencyKey)
	assert.Equal(t, int32(1), calls[activities.EmailAttempts].attempt)
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
}

func TestIssueKeyRepeated(t *testing.T) {
	f := newFixture(t)
	keys := testKeys(2)
	line := testenv.OrderLine("548712391")
	line.Quantity, line.KeyCount = 2, 2
	gen := &calls[order.Line]{}
	// Keys take 10s, so the first repeat arrives while the first call waits.
	f.env.OnActivity(f.acts.GenerateKeys, mock.Anything, mock.Anything).After(10 * time.Second).
		Return(func(_ context.Context, l order.Line) ([]order.Key, error) {
			gen.add(l)
			return keys, nil
		})
	f.mockSave(time.Minute)
	f.mockEmail(10*time.Minute, emailOK)

	first := f.issueKey()
	waiting := f.sendUpdate(time.Second, workflows.IssueKeyUpdate, workflowID)
	again := f.sendUpdate(30*time.Second, workflows.IssueKeyUpdate, workflowID)
	other := f.sendUpdate(30*time.Second, workflows.IssueKeyUpdate, "another-id")
	late := f.sendUpdate(5*time.Minute, workflows.IssueKeyUpdate, workflowID)

	f.run(line)

	for name, o := range map[string]*outcome{
		"first": first, "same ID while waiting": waiting, "same ID after keys": again,
		"other ID after keys": other, "same ID while mailing": late,
	} {
		t.Run(name, func(t *testing.T) { requireKeys(t, o, keys) })
	}
	assert.Len(t, gen.all(), 1, "keys generated once")
	assert.Equal(t, workflows.Result{Keys: order.Keys(keys), EmailStatus: workflows.EmailSent}, f.result())
}

// Keys that cannot be signed: the issue-key update answers with the reason
// (the API passes it to the storefront) and the run fails, so that the
// storefront's next call starts a new run once the cause is fixed.
func TestIssueLicenseFailsWhenKeysCannotBeGenerated(t *testing.T) {
	f := newFixture(t)
	f.env.OnActivity(f.acts.GenerateKeys, mock.Anything, mock.Anything).
		Return(nil, temporal.NewNonRetryableApplicationError(`license: unknown license model "lifetime"`, "BadLine", nil))
	f.mockSave(0)
	f.mockEmail(0, emailOK)
	upd := f.issueKey()

	f.run(testenv.OrderLine("548712391"))

	err := f.env.GetWorkflowError()
	require.Error(t, err)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "no application error in %v", err)
	assert.Equal(t, workflows.KeyGenerationFailed, app.Type())
	assert.True(t, app.NonRetryable())
	assert.Contains(t, app.Message(), `unknown license model "lifetime"`)
	f.env.AssertActivityNumberOfCalls(t, "GenerateKeys", 1)
	f.env.AssertActivityNumberOfCalls(t, "SaveOrder", 0)
	f.env.AssertActivityNumberOfCalls(t, "SendEmail", 0)
	assert.Empty(t, f.emailStatuses())

	got := upd.get()
	require.True(t, got.accepted)
	require.Equal(t, 1, got.completed, "the update answers before the run fails")
	require.True(t, errors.As(got.err, &app), "update error %v", got.err)
	assert.Equal(t, workflows.KeyGenerationFailed, app.Type())
	assert.Contains(t, app.Message(), `unknown license model "lifetime"`)
}

// retry-email without an actor is refused: every support action is on the
// record with who asked.
func TestRetryEmailNeedsActor(t *testing.T) {
	f := newFixture(t)
	f.mockKeys(testKeys(1))
	f.mockSave(0)
	f.mockEmail(0, failFirst(1))
	f.issueKey()
	anonymous := f.sendUpdate(time.Hour, workflows.RetryEmailUpdate, "retry-anon", workflows.RetryEmail{To: "a@example.com"})
	named := f.sendUpdate(2*time.Hour, workflows.RetryEmailUpdate, "retry-named", workflows.RetryEmail{Actor: "Sam", Reason: "bounced"})
	f.run(testenv.OrderLine("548712391"))

	require.Error(t, anonymous.get().rejected)
	assert.Contains(t, anonymous.get().rejected.Error(), "say who asks")
	require.True(t, named.get().accepted)
	require.Len(t, f.records(), 1)
	assert.Equal(t, "Sam", f.records()[0].Actor)
	assert.Equal(t, "bounced", f.records()[0].Reason)
}

// A resend mails the stored line's keys to the corrected address, once,
// and records who asked and why.
func TestResendEmail(t *testing.T) {
	line := testenv.OrderLine("548712391")
	keys := testKeys(1)
	cases := []struct {
		name    string
		req     workflows.ResendRequest
		wantTo  string
		wantErr string
	}{
		{"address on record", workflows.ResendRequest{Line: "shareit:548712391-1", Actor: "Sam", Reason: "lost"}, "ada.buyer@example.com", ""},
		{"corrected address", workflows.ResendRequest{Line: "shareit:548712391-1", To: "new@example.com", Actor: "Sam"}, "new@example.com", ""},
		{"no actor", workflows.ResendRequest{Line: "shareit:548712391-1"}, "", "say who asks"},
		{"no line", workflows.ResendRequest{Actor: "Sam"}, "", "give the order line"},
		{"bad address", workflows.ResendRequest{Line: "shareit:548712391-1", To: "nope", Actor: "Sam"}, "", "not an email address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "ResendEmail:shareit:548712391-1/r1"})
			f.env.OnActivity(f.acts.LoadOrderLine, mock.Anything, "shareit:548712391-1").
				Return(activities.StoredLine{Line: line, Keys: keys}, nil).Maybe()
			email := f.mockEmail(0, func(int) (string, error) { return "re_9", nil })
			f.env.ExecuteWorkflow(workflows.ResendEmail, tc.req)
			require.True(t, f.env.IsWorkflowCompleted())
			if tc.wantErr != "" {
				require.ErrorContains(t, f.env.GetWorkflowError(), tc.wantErr)
				assert.Empty(t, email.all())
				assert.Empty(t, f.records())
				return
			}
			require.NoError(t, f.env.GetWorkflowError())
			var res workflows.ResendResult
			require.NoError(t, f.env.GetWorkflowResult(&res))
			assert.Equal(t, workflows.ResendResult{To: tc.wantTo, EmailID: "re_9"}, res)
			calls := email.all()
			require.Len(t, calls, 1)
			assert.Equal(t, tc.wantTo, calls[0].req.To)
			assert.Equal(t, "ResendEmail:shareit:548712391-1/r1/email", calls[0].req.IdempotencyKey)
			assert.Equal(t, []activities.SupportRecord{{
				Line: "shareit:548712391-1", Action: "resend-email", Actor: tc.req.Actor, Reason: tc.req.Reason,
				To: tc.wantTo, EmailID: "re_9", RequestID: "ResendEmail:shareit:548712391-1/r1",
			}}, f.records())
		})
	}
}
