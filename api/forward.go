package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// Forward mode, for a switch from QLM without a big day: a provider with an
// upstream has its calls keyed by the vendor's old QLM License Server. The
// call is forwarded as it came (method, query, body), QLM's answer is the
// storefront's, and the line is recorded with QLM's keys as its legacy keys
// (a ForwardLicense workflow), so that when the vendor's new application
// ships and the upstream is removed every earlier line is already here.
// QLM's failures are the storefront's: its status and body pass through and
// nothing is recorded; a QLM that does not answer within the key timeout is
// a 503.

// maxRawBody is the most of a call's body kept for forwarding: the key
// generator's own limit (shareit.ReadCall refuses more with 413).
const maxRawBody = 1 << 20

// maxUpstreamAnswer bounds QLM's answer.
const maxUpstreamAnswer = 64 << 10

// canonicalMethods are QLM's method names as its documentation writes them.
var canonicalMethods = map[string]string{
	methodGetActivationKey:  "GetActivationKey",
	methodWithExpiryDate:    "GetActivationKeyWithExpiryDate",
	methodWebHook:           "QlmWebHookHandler",
	methodRenewMaintenance:  "RenewMaintenancePlan",
	methodRenewSubscription: "RenewSubscriptionHttp",
}

// keepBody reads the call's body for forwarding and puts it back for the
// decoder, when some provider forwards; nil otherwise, or when the body is
// over the limit (the decoder refuses it).
func keepBody(d Deps, r *http.Request) []byte {
	if !d.Config.Forwards() || r.Body == nil {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRawBody+1))
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), rest), rest}
	if err != nil || len(raw) > maxRawBody {
		return nil
	}
	return raw
}

// forward answers a forward-mode provider's call. A line keysmith could
// not build (refused, say for a product keysmith.yaml lacks) is forwarded
// all the same and not recorded: QLM decides.
func forward(w http.ResponseWriter, r *http.Request, d Deps, p *config.Provider, method string, raw []byte, line order.Line, recordable bool) {
	if recordable {
		// A repeat gets the keys QLM gave the first time, without asking
		// QLM again: the same order always gets the same key.
		if keys, err := d.Store.LegacyKeys(r.Context(), store.Line{Provider: line.Provider, PurchaseID: line.PurchaseID, RunningNo: line.RunningNo}); err == nil {
			_ = writePlain(w, http.StatusOK, strings.Join(keys, "\n"))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.KeyTimeout)
	defer cancel()
	target := p.Upstream.URL + "/" + canonicalMethods[method]
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(raw))
	if err != nil {
		plainError(w, http.StatusBadGateway, "the QLM server's URL is wrong in keysmith.yaml")
		return
	}
	for _, h := range []string{"Content-Type", "Authorization", "User-Agent"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	host := hostOf(p.Upstream.URL)
	resp, err := d.upstream().Do(req)
	if err != nil {
		// The error names the URL, and its query the provider's password:
		// log the host only.
		d.Log.Error("Forward to QLM", "provider", p.Name, "upstream", host, "timeout", ctx.Err() != nil)
		plainError(w, http.StatusServiceUnavailable, "the QLM License Server did not answer; try again")
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamAnswer))
	if err != nil {
		d.Log.Error("Forward to QLM: read the answer", "provider", p.Name, "upstream", host)
		plainError(w, http.StatusServiceUnavailable, "the QLM License Server's answer was cut off; try again")
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	if resp.StatusCode != http.StatusOK {
		d.Log.Warn("QLM refused a forwarded call; its answer passed through", "provider", p.Name, "upstream", host, "status", resp.StatusCode)
		return
	}
	keys := answerKeys(body)
	switch {
	case !recordable:
		d.Log.Warn("Forwarded a call keysmith could not read as a line; QLM keyed it, keysmith recorded nothing", "provider", p.Name)
	case len(keys) == 0:
		d.Log.Warn("QLM answered a forwarded call with no key; nothing recorded", "order", line.ID())
	default:
		record(context.WithoutCancel(r.Context()), d, p, host, line, keys)
	}
}

// answerKeys are the keys in QLM's answer: one per line, as the storefront
// reads them.
func answerKeys(body []byte) []string {
	var keys []string
	for _, l := range strings.Split(string(body), "\n") {
		if k := strings.TrimSpace(l); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// record starts the line's ForwardLicense workflow: the line with QLM's
// keys as its legacy keys. The storefront has its answer already; a record
// that cannot be started is logged for the operator, who can import the
// line from QLM later.
func record(ctx context.Context, d Deps, p *config.Provider, host string, line order.Line, keys []string) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	line.KeyCount = len(keys)
	line.Confirm = nil // QLM answered the storefront: nothing to hold
	line.Email.Send = line.Email.Send && p.Upstream.Mail
	imp := activities.ImportedLicense{Line: line, Source: activities.ImportSource{System: "qlm-forward", File: host, Actor: "storefront " + p.Name}}
	imp.LegacyKeys = keys
	_, err := d.Temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{
		ID:                       workflows.ForwardLicenseWorkflow + ":" + line.ID(),
		TaskQueue:                d.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		TypedSearchAttributes:    workflows.ImportSearchAttributes(line),
		StaticSummary:            workflows.ImportSummary(imp),
	}, workflows.ForwardLicenseWorkflow, imp)
	if err != nil {
		d.Metrics.Delivery("forward-unrecorded")
		d.Log.Error("Record a line QLM keyed: import it from QLM later", "order", line.ID(), "error", err)
	}
}

func hostOf(u string) string {
	if parsed, err := url.Parse(u); err == nil {
		return parsed.Host
	}
	return "?"
}

// upstream is the client that forwards to QLM: the key timeout bounds it
// through the request's context.
func (d Deps) upstream() *http.Client {
	if d.Upstream != nil {
		return d.Upstream
	}
	return defaultUpstream
}

var defaultUpstream = &http.Client{
	Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
	},
	// QLM answers the storefront itself: never follow it elsewhere.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
