package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/shareit"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// maxQuantity keeps one call from asking for an absurd number of keys.
const maxQuantity = 1000

// keyGenerator answers the storefront's call with the order line's key(s),
// one per line. webhook is the MyCommerce style, whose URL names no product:
// the product comes from the provider's PRODUCT_ID mapping.
func keyGenerator(d Deps, webhook bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Not r.URL.Query(): it drops is_features=0:3;1:1 for its ';'.
		raw, err := shareit.ParseQuery(r.URL.RawQuery)
		if err != nil {
			plainError(w, http.StatusBadRequest, err.Error())
			return
		}
		q := lowerKeys(raw)
		p, status, reason := authenticate(d, r, q)
		if status != 0 {
			if status == http.StatusUnauthorized && p != nil && p.BasicAuth != nil {
				w.Header().Set("WWW-Authenticate", `Basic realm="keysmith"`)
			}
			plainError(w, status, reason)
			return
		}
		req, err := shareit.ParseRequest(r)
		if err == nil && webhook {
			req.Args, err = mappedArgs(p, req, q)
		}
		var line order.Line
		if err == nil {
			line, err = newLine(d, p, req)
		}
		var bad *shareit.BadRequestError
		if errors.As(err, &bad) {
			plainError(w, bad.Status, bad.Reason())
			return
		}
		if err != nil {
			plainError(w, http.StatusBadRequest, err.Error())
			return
		}

		ctx, cancel := context.WithTimeout(r.Context(), d.KeyTimeout)
		defer cancel()
		keys, err := issue(ctx, d, line)
		if err != nil {
			status, reason := issueFailure(ctx, err)
			d.Log.Error("Issue keys", "order", line.ID(), "status", status, "error", err)
			plainError(w, status, reason)
			return
		}
		writePlain(w, http.StatusOK, strings.Join(keys, "\n"))
	})
}

// lowerKeys lower-cases argument names: QLM's are case-insensitive.
func lowerKeys(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		k = strings.ToLower(k)
		out[k] = append(out[k], v...)
	}
	return out
}

// authenticate finds the provider and checks its IP allow-list, basic auth
// and QLM credentials. It returns a status and reason when the call is
// refused (and the provider, when there is one).
func authenticate(d Deps, r *http.Request, q url.Values) (*config.Provider, int, string) {
	p, ok := d.Config.Provider(q.Get("is_vendor"))
	if !ok {
		return nil, http.StatusUnauthorized, "is_vendor: unknown provider"
	}
	if !p.AllowsIP(clientAddr(r, d.TrustProxy)) {
		return p, http.StatusForbidden, "caller's address is not allowed"
	}
	user, pass, hasBasic := r.BasicAuth()
	if !p.CheckBasic(user, pass, hasBasic) {
		return p, http.StatusUnauthorized, "wrong or missing basic auth credentials"
	}
	if !p.CheckQLM(q.Get("is_user"), q.Get("is_pwd")) {
		return p, http.StatusUnauthorized, "is_user/is_pwd: wrong or missing credentials"
	}
	return p, 0, ""
}

// mappedArgs gives a webhook call the QLM arguments configured for its
// PRODUCT_ID; arguments in the URL win over the mapping.
func mappedArgs(p *config.Provider, req shareit.Request, q url.Values) (shareit.Args, error) {
	mapping, ok := p.Products[req.Order.ProductID]
	if !ok {
		return shareit.Args{}, &shareit.BadRequestError{Status: http.StatusBadRequest, Field: "PRODUCT_ID",
			Problem: fmt.Sprintf("%q has no product mapping for provider %s", req.Order.ProductID, p.Name)}
	}
	merged, err := shareit.ParseQuery(strings.TrimPrefix(mapping, "&"))
	if err != nil {
		return shareit.Args{}, fmt.Errorf("PRODUCT_ID %s: bad mapping in the configuration", req.Order.ProductID)
	}
	merged = lowerKeys(merged)
	for k, v := range q {
		merged[k] = v
	}
	return shareit.ParseArgs(merged)
}

// newLine checks the request against the configured product and decides
// the keys: one key carrying all seats, or one key per license.
func newLine(d Deps, p *config.Provider, req shareit.Request) (order.Line, error) {
	a, o := req.Args, req.Order
	if !a.HasProductID {
		return order.Line{}, errors.New("is_productid: missing")
	}
	major, minor := a.Major, a.Minor
	if !a.HasVersion {
		// QLM always sends a version; accept none when only one exists.
		vs := d.Config.Versions(a.ProductID)
		if len(vs) != 1 {
			return order.Line{}, fmt.Errorf("is_majorversion/is_minorversion: missing (product %d has versions %s)", a.ProductID, strings.Join(vs, ", "))
		}
		fmt.Sscanf(vs[0], "%d.%d", &major, &minor) //nolint:errcheck // Versions formats it
	}
	prod, ok := d.Config.Product(a.ProductID, major, minor)
	if !ok {
		if vs := d.Config.Versions(a.ProductID); len(vs) > 0 {
			return order.Line{}, fmt.Errorf("is_majorversion/is_minorversion: product %d has no version %d.%d (configured: %s)", a.ProductID, major, minor, strings.Join(vs, ", "))
		}
		return order.Line{}, fmt.Errorf("is_productid: unknown product %d", a.ProductID)
	}
	qty := req.Quantity()
	if qty > maxQuantity {
		return order.Line{}, fmt.Errorf("quantity: %d is more than %d", qty, maxQuantity)
	}
	model, err := license.ParseModel(a.LicenseModel)
	if err != nil {
		return order.Line{}, fmt.Errorf("is_licensemodel: %q is not permanent, trial or subscription", a.LicenseModel)
	}
	template := prod.EmailTemplate
	if a.EmailTemplate != "" {
		template = a.EmailTemplate
	}
	if d.Templates != nil && !d.Templates.Has(template) {
		return order.Line{}, fmt.Errorf("is_emailtemplate: no template %q", template)
	}
	keyCount, seats := 1, qty
	if !a.MultipleActivationsKey {
		keyCount, seats = qty, a.ActivationsPerKey
	}
	return order.Line{
		Provider:   p.Name,
		PurchaseID: o.PurchaseID,
		RunningNo:  o.RunningNo,
		OrderDate:  o.PurchaseDate,
		Product: order.Product{
			ID: prod.ID, Major: prod.Major, Minor: prod.Minor, Name: prod.Name,
			FeatureNames: prod.FeatureNames(a.Features),
		},
		Features:      a.Features,
		Quantity:      qty,
		KeyCount:      keyCount,
		Seats:         seats,
		Model:         model.String(),
		Expires:       a.ExpDate,
		ExpiresInDays: a.ExpDuration,
		Customer: order.Customer{
			Email: o.Email, Name: o.FullName(), Company: o.Company,
			Street: o.Street, City: o.City, Zip: o.Zip, State: o.State,
			Country: o.Country, ISOCode: o.ISOCode, Phone: o.Phone,
		},
		Email:  order.Email{Send: a.SendMail, Template: template},
		Fields: o.Fields,
		Args:   a.Raw,
	}, nil
}

// issue returns the order line's keys: from Postgres when the line was
// saved before, else from the IssueLicense workflow, started or joined with
// Update-With-Start. The update returns as soon as the keys are signed.
func issue(ctx context.Context, d Deps, line order.Line) ([]string, error) {
	if keys, err := storedKeys(ctx, d, line); err == nil {
		return keys, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		// The workflow can still answer; the database may be back by the
		// time it saves.
		d.Log.Warn("Look up stored order", "order", line.ID(), "error", err)
	}

	id := workflows.IssueLicenseID(line.Provider, line.PurchaseID, line.RunningNo)
	start := d.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                d.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.EmailStatus.ValueSet(workflows.EmailPending)),
		StaticSummary:            fmt.Sprintf("%s order %s line %s", line.Provider, line.PurchaseID, line.RunningNo),
	}, workflows.IssueLicense, line)
	handle, err := d.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     id,
			UpdateName:   workflows.IssueKeyUpdate,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("update-with-start %s: %w", id, err)
	}
	var keys []string
	if err := handle.Get(ctx, &keys); err != nil {
		return nil, fmt.Errorf("issue-key update %s: %w", id, err)
	}
	return keys, nil
}

func storedKeys(ctx context.Context, d Deps, line order.Line) ([]string, error) {
	o, err := d.Store.FindOrder(ctx, line.Provider, line.PurchaseID, line.RunningNo)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(o.Keys))
	for i, k := range o.Keys {
		keys[i] = k.Key
	}
	return keys, nil
}

// issueFailure turns a failure to get keys into a status and a plain reason
// for the storefront; the cause goes to the log only. Timeouts and an
// unreachable or overloaded Temporal are worth a retry: 503.
func issueFailure(ctx context.Context, err error) (int, string) {
	var (
		waiting     *client.WorkflowUpdateServiceTimeoutOrCanceledError
		deadline    *serviceerror.DeadlineExceeded
		canceled    *serviceerror.Canceled
		unavailable *serviceerror.Unavailable
		exhausted   *serviceerror.ResourceExhausted
	)
	switch {
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.As(err, &waiting),
		errors.As(err, &deadline), errors.As(err, &canceled):
		return http.StatusServiceUnavailable, errTimeout.Error()
	case errors.As(err, &unavailable), errors.As(err, &exhausted):
		return http.StatusServiceUnavailable, "key service temporarily unavailable; try again"
	default:
		return http.StatusInternalServerError, "internal error; the order was not keyed"
	}
}
