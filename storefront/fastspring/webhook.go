package fastspring

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// The webhook's body, as FastSpring's webhook reference documents it:
// {"events": [{"id", "type", "live", "created", "data"}]}, data being the
// order for order.completed, and {"subscription", "order"} for
// subscription.charge.completed (a rebill).
type webhookBody struct {
	Events []event `json:"events"`
}

type event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Live    bool            `json:"live"`
	Created int64           `json:"created"`
	Data    json.RawMessage `json:"data"`
}

type orderData struct {
	ID        string `json:"id"`
	Order     string `json:"order"`
	Reference string `json:"reference"`
	Live      bool   `json:"live"`
	Currency  string `json:"currency"`
	Language  string `json:"language"`
	Completed *bool  `json:"completed"`
	Changed   int64  `json:"changed"`
	// Customer is the buyer; some payloads give it only as the expanded
	// account's contact.
	Customer *contact `json:"customer"`
	Account  account  `json:"account"`
	Address  address  `json:"address"`
	Items    []item   `json:"items"`
}

type contact struct {
	First   string `json:"first"`
	Last    string `json:"last"`
	Email   string `json:"email"`
	Company string `json:"company"`
	Phone   string `json:"phone"`
}

// account is an account id, or the expanded account with its contact.
type account struct {
	ID      string
	Contact *contact
}

func (a *account) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		return json.Unmarshal(b, &a.ID)
	}
	var v struct {
		ID      string   `json:"id"`
		Contact *contact `json:"contact"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	a.ID, a.Contact = v.ID, v.Contact
	return nil
}

type address struct {
	AddressLine1 string `json:"addressLine1"`
	City         string `json:"city"`
	Region       string `json:"region"`
	RegionCode   string `json:"regionCode"`
	PostalCode   string `json:"postalCode"`
	Country      string `json:"country"`
}

type item struct {
	Product  string `json:"product"`
	Quantity *int   `json:"quantity"`
	Display  string `json:"display"`
	SKU      string `json:"sku"`
	// Subscription is the subscription's id, or the expanded subscription.
	Subscription subscriptionRef `json:"subscription"`
	// Attributes are the product's custom attributes, as strings.
	Attributes map[string]attribute `json:"attributes"`
}

// attribute is a custom attribute's value: a string, or the JSON of
// another value (a number as written).
type attribute string

func (a *attribute) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = attribute(s)
		return nil
	}
	*a = attribute(bytes.TrimSpace(b))
	return nil
}

// subscriptionRef is a subscription id, or an expanded subscription.
type subscriptionRef string

func (s *subscriptionRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if bytes.HasPrefix(b, []byte(`"`)) {
		var id string
		err := json.Unmarshal(b, &id)
		*s = subscriptionRef(id)
		return err
	}
	var v struct {
		ID           string `json:"id"`
		Subscription string `json:"subscription"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = subscriptionRef(cmp.Or(v.ID, v.Subscription))
	return nil
}

type chargeData struct {
	Subscription subscriptionRef `json:"subscription"`
	Order        json.RawMessage `json:"order"`
}

// QLM's webhook_action custom attribute names the method an item stands
// for: UpdateUserInformation (the item was keyed by its remote request;
// here the webhook keys it too, the same line, or confirms it) or
// RenewMaintenancePlan (a maintenance plan's rebill).
var webhookActions = map[string]string{
	"updateuserinformation":          "getactivationkey",
	"getactivationkey":               "getactivationkey",
	"renewmaintenanceplan":           "renewmaintenanceplan",
	"renewsubscriptionhttp":          "renewsubscriptionhttp",
	"getactivationkeywithexpirydate": "getactivationkeywithexpirydate",
}

// decodeWebhook reads a webhook's events: each order.completed item that
// names a product (by QLM arguments in its custom attributes or the
// provider's products mapping) is a line; a subscription.charge.completed
// renews its subscription's line. Other events are answered as handled
// and key nothing.
func decodeWebhook(c *storefront.Call, p *config.Provider) (storefront.Reading, error) {
	var body webhookBody
	dec := json.NewDecoder(bytes.NewReader(c.Body))
	if err := dec.Decode(&body); err != nil {
		return storefront.Reading{}, qlm.BadRequest("body", "not FastSpring's webhook JSON ({\"events\": [...]}): %s", jsonProblem(err))
	}
	reading := storefront.Reading{Notify: true}
	for i, e := range body.Events {
		if strings.TrimSpace(e.ID) == "" {
			return storefront.Reading{}, qlm.BadRequest(fmt.Sprintf("events[%d].id", i), "missing")
		}
		reading.Events = append(reading.Events, e.ID)
		var (
			o      orderData
			method = "getactivationkey"
			sub    subscriptionRef
		)
		switch e.Type {
		case "order.completed":
			if err := json.Unmarshal(e.Data, &o); err != nil {
				return storefront.Reading{}, qlm.BadRequest(fmt.Sprintf("events[%d].data", i), "not an order: %s", jsonProblem(err))
			}
		case "subscription.charge.completed":
			var charge chargeData
			if err := json.Unmarshal(e.Data, &charge); err != nil {
				return storefront.Reading{}, qlm.BadRequest(fmt.Sprintf("events[%d].data", i), "not a subscription charge: %s", jsonProblem(err))
			}
			if len(charge.Order) > 0 && !bytes.Equal(bytes.TrimSpace(charge.Order), []byte("null")) {
				if err := json.Unmarshal(charge.Order, &o); err != nil {
					return storefront.Reading{}, qlm.BadRequest(fmt.Sprintf("events[%d].data.order", i), "not an order: %s", jsonProblem(err))
				}
			}
			if o.Reference == "" && o.ID == "" {
				reading.Skipped = append(reading.Skipped, fmt.Sprintf("event %s (%s): no order to renew by", e.ID, e.Type))
				continue
			}
			method, sub = "renewsubscriptionhttp", charge.Subscription
		case "return.created", "subscription.canceled", "subscription.deactivated":
			rvs, skip, err := revocations(p, e)
			if err != nil {
				return storefront.Reading{}, qlm.BadRequest(fmt.Sprintf("events[%d].data", i), "%s", err)
			}
			if skip != "" {
				reading.Skipped = append(reading.Skipped, fmt.Sprintf("event %s (%s): %s", e.ID, e.Type, skip))
			}
			reading.Revocations = append(reading.Revocations, rvs...)
			continue
		default:
			reading.Skipped = append(reading.Skipped, fmt.Sprintf("event %s (%s): not an event keysmith keys", e.ID, e.Type))
			continue
		}
		if o.Completed != nil && !*o.Completed {
			reading.Skipped = append(reading.Skipped, fmt.Sprintf("event %s: order %s is not completed", e.ID, cmp.Or(o.Reference, o.ID)))
			continue
		}
		for j, it := range o.Items {
			req, skip, err := itemRequest(c, p, e, o, it, method, sub)
			if err != nil {
				// A *qlm.BadRequestError itself, not wrapped: the API
				// answers only that with its reason (anything else is a
				// 503 that FastSpring would retry for ever).
				return storefront.Reading{}, itemError(i, j, err)
			}
			if skip != "" {
				reading.Skipped = append(reading.Skipped, fmt.Sprintf("event %s item %s: %s", e.ID, it.Product, skip))
				continue
			}
			reading.Requests = append(reading.Requests, req)
		}
	}
	return reading, nil
}

// itemError names the item a refusal is about in its field.
func itemError(event, item int, err error) error {
	bad, ok := errors.AsType[*qlm.BadRequestError](err)
	if !ok {
		return err
	}
	return &qlm.BadRequestError{Status: bad.Status, Field: fmt.Sprintf("events[%d].data.items[%d].%s", event, item, bad.Field), Problem: bad.Problem}
}

// itemRequest is one order item's line. An item that names no product
// keysmith keys is skipped, with the reason.
func itemRequest(c *storefront.Call, p *config.Provider, e event, o orderData, it item, method string, sub subscriptionRef) (storefront.Request, string, error) {
	call := c.QLM.Fork()
	// Arguments: the URL's, then the item's custom attributes (QLM's
	// guides put is_productid there), then the provider's products
	// mapping for the product path.
	call.WithMapping(qlmArgs(it.Attributes))
	if mapping, ok := p.Products[it.Product]; ok {
		args, err := qlm.ParseQuery(mapping) // checked when the configuration was loaded
		if err != nil {
			return storefront.Request{}, "", &qlm.BadRequestError{Status: http.StatusBadRequest, Field: "product " + it.Product, Problem: "bad mapping in the configuration"}
		}
		call.WithMapping(args)
	}
	if action := strings.ToLower(strings.TrimSpace(string(it.Attributes["webhook_action"]))); webhookActions[action] != "" && method == "getactivationkey" {
		method = webhookActions[action]
	}
	if call.Arg("is_productid") == "" && method != "renewsubscriptionhttp" && method != "renewmaintenanceplan" {
		return storefront.Request{}, "no is_productid in its attributes and no products mapping for it", nil
	}
	args, err := call.Args(p.DateLayout())
	if err != nil {
		return storefront.Request{}, "", err
	}
	buyer := o.Customer
	if buyer == nil {
		buyer = o.Account.Contact
	}
	if buyer == nil {
		buyer = &contact{}
	}
	pu := storefront.Purchase{
		PurchaseID:   strings.TrimSpace(cmp.Or(o.Reference, o.ID, o.Order)),
		RunningNo:    strings.TrimSpace(it.Product),
		PurchaseDate: millis(cmp.Or(o.Changed, e.Created)),
		Quantity:     1,
		FirstName:    strings.TrimSpace(buyer.First),
		LastName:     strings.TrimSpace(buyer.Last),
		Company:      strings.TrimSpace(buyer.Company),
		Phone:        strings.TrimSpace(buyer.Phone),
		Street:       strings.TrimSpace(o.Address.AddressLine1),
		City:         strings.TrimSpace(o.Address.City),
		State:        strings.TrimSpace(cmp.Or(o.Address.RegionCode, o.Address.Region)),
		Zip:          strings.TrimSpace(o.Address.PostalCode),
		ISOCode:      strings.TrimSpace(o.Address.Country),
		Language:     strings.TrimSpace(o.Language),
		Subscription: strings.TrimSpace(string(cmp.Or(sub, it.Subscription))),
		UTF8:         true,
		Fields: map[string]string{
			"event": e.ID, "event_type": e.Type, "order": cmp.Or(o.ID, o.Order), "reference": o.Reference,
			"product": it.Product, "display": it.Display, "sku": it.SKU, "currency": o.Currency,
			"live": fmt.Sprint(o.Live || e.Live), "account": o.Account.ID,
		},
	}
	for _, k := range slices.Sorted(maps.Keys(it.Attributes)) {
		if !strings.HasPrefix(strings.ToLower(k), "is_") {
			pu.Fields["attribute."+k] = string(it.Attributes[k])
		}
	}
	if pu.Subscription != "" {
		pu.Fields["subscription"] = pu.Subscription
	}
	for k, v := range pu.Fields {
		if v == "" {
			delete(pu.Fields, k)
		}
	}
	if err := checkLine(&pu, "reference", "product"); err != nil {
		return storefront.Request{}, "", err
	}
	if it.Quantity != nil {
		if *it.Quantity < 1 || *it.Quantity > qlm.MaxSeats {
			return storefront.Request{}, "", qlm.BadRequest("quantity", "%d is not 1 to %d", *it.Quantity, qlm.MaxSeats)
		}
		pu.Quantity = *it.Quantity
		pu.Fields["quantity"] = itoa(*it.Quantity)
	}
	storefront.ReadEmail(call, &pu, "email", buyer.Email)
	return storefront.Request{Method: method, Args: args, Purchase: pu, Warnings: call.Warnings(),
		Confirmed: true, Event: e.ID}, "", nil
}

// qlmArgs are the QLM arguments among an item's custom attributes: the
// is_* ones.
func qlmArgs(attrs map[string]attribute) map[string][]string {
	v := map[string][]string{}
	for k, a := range attrs {
		if strings.HasPrefix(strings.ToLower(k), "is_") {
			v[k] = []string{string(a)}
		}
	}
	return v
}

func jsonProblem(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// A return (FastSpring's refunds and chargebacks) names the order it
// undoes and its items, as FastSpring's return.created documents it
// (return, reference: the return's own; original: the order); a
// subscription's event names the subscription.
type returnData struct {
	Return    string `json:"return"`
	Reference string `json:"reference"`
	Completed *bool  `json:"completed"`
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	Original  struct {
		ID        string `json:"id"`
		Order     string `json:"order"`
		Reference string `json:"reference"`
	} `json:"original"`
	Items []struct {
		Product  string `json:"product"`
		Quantity int    `json:"quantity"`
	} `json:"items"`
}

type subscriptionData struct {
	ID           string `json:"id"`
	Subscription string `json:"subscription"`
}

// revocations reads a return or a subscription's end into what it
// undoes: each returned item's line (the whole line unless the item's
// quantity says part of it), or the subscription's line. A return of type
// CHARGEBACK is a chargeback (assumed: FastSpring's public reference names
// returns, refunds and chargebacks but not the field's every value).
func revocations(p *config.Provider, e event) ([]storefront.Revocation, string, error) {
	if e.Type != "return.created" {
		var sub subscriptionData
		if err := json.Unmarshal(e.Data, &sub); err != nil {
			return nil, "", fmt.Errorf("not a subscription: %s", jsonProblem(err))
		}
		id := strings.TrimSpace(cmp.Or(sub.ID, sub.Subscription))
		if id == "" {
			return nil, "no subscription named", nil
		}
		return []storefront.Revocation{{Kind: storefront.Cancel, Subscription: id, Event: e.ID,
			Reason: "FastSpring " + e.Type + " " + id}}, "", nil
	}
	var ret returnData
	if err := json.Unmarshal(e.Data, &ret); err != nil {
		return nil, "", fmt.Errorf("not a return: %s", jsonProblem(err))
	}
	if ret.Completed != nil && !*ret.Completed {
		return nil, "the return is not completed", nil
	}
	ref := strings.TrimSpace(cmp.Or(ret.Original.Reference, ret.Original.ID, ret.Original.Order))
	if ref == "" || len(ret.Items) == 0 {
		return nil, "no original order and items to revoke", nil
	}
	kind := storefront.Refund
	if strings.Contains(strings.ToUpper(ret.Type), "CHARGEBACK") {
		kind = storefront.Chargeback
	}
	reason := strings.TrimSpace("FastSpring return " + cmp.Or(ret.Reference, ret.Return) + " " + ret.Reason)
	var out []storefront.Revocation
	for _, it := range ret.Items {
		if strings.TrimSpace(it.Product) == "" {
			continue
		}
		out = append(out, storefront.Revocation{Kind: kind, Event: e.ID, Reason: reason, Quantity: max(it.Quantity, 0),
			Line: order.LineID{Provider: p.Name, PurchaseID: ref, RunningNo: strings.TrimSpace(it.Product)}})
	}
	return out, "", nil
}
