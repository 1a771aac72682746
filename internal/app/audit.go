package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/workflows"
)

// Audit prints an order line's story from Temporal, decoded through the
// codec: every workflow of the line (its keys, renewals, support actions),
// oldest first, and in each the steps that matter to an auditor.
func (a *App) Audit(ctx context.Context, w io.Writer, line string) error {
	if _, err := order.ParseName(line); err != nil {
		return err
	}
	query := fmt.Sprintf("%s = %q", workflows.OrderLine.GetName(), line)
	var runs []*workflowservice.ListWorkflowExecutionsResponse
	var token []byte
	for {
		resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return fmt.Errorf("audit: list %s: %w", query, err)
		}
		runs = append(runs, resp)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	var execs []*workflowExec
	for _, r := range runs {
		for _, e := range r.GetExecutions() {
			execs = append(execs, &workflowExec{id: e.GetExecution().GetWorkflowId(), run: e.GetExecution().GetRunId(),
				kind: e.GetType().GetName(), status: e.GetStatus(), start: e.GetStartTime().AsTime()})
		}
	}
	if len(execs) == 0 {
		fmt.Fprintf(w, "no workflow in Temporal for %s (the namespace's retention may have passed; see keysmith support find)\n", line)
		return nil
	}
	slices.SortFunc(execs, func(x, y *workflowExec) int { return x.start.Compare(y.start) })
	fmt.Fprintf(w, "order line %s: %d workflows\n", line, len(execs))
	for _, e := range execs {
		fmt.Fprintf(w, "\n%s %s (%s)  %s\n", e.kind, e.id, strings.TrimPrefix(e.status.String(), "WORKFLOW_EXECUTION_STATUS_"), a.WorkflowURL(e.id))
		if err := a.auditHistory(ctx, w, e); err != nil {
			return err
		}
	}
	return nil
}

type workflowExec struct {
	id, run, kind string
	status        enums.WorkflowExecutionStatus
	start         time.Time
}

// auditHistory prints one workflow's events as lines of a story.
func (a *App) auditHistory(ctx context.Context, w io.Writer, e *workflowExec) error {
	scheduled := map[int64]string{} // activity event id -> activity type
	it := a.Temporal.GetWorkflowHistory(ctx, e.id, e.run, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return fmt.Errorf("audit: history of %s: %w", e.id, err)
		}
		at := ev.GetEventTime().AsTime().UTC().Format("2006-01-02 15:04:05")
		say := func(format string, args ...any) { fmt.Fprintf(w, "  %s  %s\n", at, fmt.Sprintf(format, args...)) }
		switch ev.GetEventType() {
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			attrs := ev.GetWorkflowExecutionStartedEventAttributes()
			say("started by %s; input %s", attrs.GetIdentity(), a.payloads(attrs.GetInput()))
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			attrs := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes()
			req := attrs.GetAcceptedRequest()
			say("update %s accepted (id %s, from %s): %s", req.GetInput().GetName(), req.GetMeta().GetUpdateId(),
				req.GetMeta().GetIdentity(), a.payloads(req.GetInput().GetArgs()))
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			attrs := ev.GetWorkflowExecutionSignaledEventAttributes()
			say("signal %s from %s: %s", attrs.GetSignalName(), attrs.GetIdentity(), a.payloads(attrs.GetInput()))
		case enums.EVENT_TYPE_TIMER_FIRED:
			say("timer fired")
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
			out := ev.GetWorkflowExecutionUpdateCompletedEventAttributes().GetOutcome()
			if f := out.GetFailure(); f != nil {
				say("update answered with a failure: %s", a.failure(f))
			} else {
				say("update answered: %s", a.payloads(out.GetSuccess()))
			}
		case enums.EVENT_TYPE_MARKER_RECORDED:
			// A local activity (key generation): its type in the marker's
			// data, its outcome in the result or the failure.
			attrs := ev.GetMarkerRecordedEventAttributes()
			var header struct{ ActivityType string }
			if data := attrs.GetDetails()["data"]; data != nil && len(data.GetPayloads()) > 0 {
				_ = a.dataConverter().FromPayload(data.GetPayloads()[0], &header)
			}
			if f := attrs.GetFailure(); f != nil {
				say("local step %s failed: %s", header.ActivityType, a.failure(f))
			} else {
				say("local step %s done: %s", header.ActivityType, a.payloads(attrs.GetDetails()["result"]))
			}
		case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			attrs := ev.GetActivityTaskScheduledEventAttributes()
			scheduled[ev.GetEventId()] = attrs.GetActivityType().GetName()
			say("step %s scheduled: %s", attrs.GetActivityType().GetName(), a.payloads(attrs.GetInput()))
		case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			attrs := ev.GetActivityTaskCompletedEventAttributes()
			say("step %s done: %s", scheduled[attrs.GetScheduledEventId()], a.payloads(attrs.GetResult()))
		case enums.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			attrs := ev.GetActivityTaskFailedEventAttributes()
			say("step %s failed: %s", scheduled[attrs.GetScheduledEventId()], a.failure(attrs.GetFailure()))
		case enums.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			attrs := ev.GetActivityTaskTimedOutEventAttributes()
			say("step %s timed out", scheduled[attrs.GetScheduledEventId()])
		case enums.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			fields := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(fields)) {
				parts = append(parts, k+"="+string(fields[k].GetData()))
			}
			say("search attributes %s", strings.Join(parts, " "))
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			say("completed: %s", a.payloads(ev.GetWorkflowExecutionCompletedEventAttributes().GetResult()))
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			say("failed: %s", a.failure(ev.GetWorkflowExecutionFailedEventAttributes().GetFailure()))
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			attrs := ev.GetWorkflowExecutionTerminatedEventAttributes()
			say("terminated by %s: %s", attrs.GetIdentity(), attrs.GetReason())
		}
	}
	return nil
}

// payloads decodes payloads through the codec into compact JSON.
func (a *App) payloads(p *commonpb.Payloads) string {
	if p == nil || len(p.GetPayloads()) == 0 {
		return "-"
	}
	var parts []string
	for _, one := range p.GetPayloads() {
		var v any
		if err := a.dataConverter().FromPayload(one, &v); err != nil {
			parts = append(parts, "<cannot decode: "+err.Error()+">")
			continue
		}
		b, _ := json.Marshal(v)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, " ")
}

// failure is a failure's message, decoded through the codec.
func (a *App) failure(f *failurepb.Failure) string {
	if a.Codec == nil {
		return f.GetMessage()
	}
	return a.Codec.FailureConverter().FailureToError(f).Error()
}

func (a *App) dataConverter() converter.DataConverter {
	if a.Codec == nil {
		return converter.GetDefaultDataConverter()
	}
	return a.Codec.DataConverter()
}
