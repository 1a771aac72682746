// Package qlmimport reads a QLM vendor's licenses as they come out of QLM:
// CSV files of QLM's views, with QLM's field names as the header. Each
// license becomes one order line ready to import, with the QLM key kept as
// its legacy key; a row that cannot be imported is reported with its line
// number and reason and never stops the others.
//
// The columns and their sources (stored repositories soraco/qlm and
// soraco/qlmapi):
//
//   - The licenses file is QLM's main view, qryLicenseInfo, as GetDataSetEx
//     returns it or the Manage Keys grid exports it
//     (qlmdocs/api-reference/qlmlicense/management-methods/getdatasetex.md,
//     qlmdocs/how-to/how-to-export-license-keys.md); its fields are those of
//     ILicenseInfo (qlmapi/ilicenseinfo/properties.md) and of the License
//     Keys table (qlmdocs/faq/license-key-fields-definitions.md).
//   - The activations file is qryActivationLog, one row per computer of a
//     key with several activations.
//   - The customers file is qryCustomerInfo (Manage Customers' export,
//     qlmdocs/how-to/how-to-export-customers.md); customers are identified
//     by their email address (qlmdocs/management-console/user-interface/manage-customers.md).
//
// Columns are matched without regard to case, spaces and underscores.
// Columns lists what is read, stored or ignored.
package qlmimport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
)

// Column says what the import does with one QLM column.
type Column struct {
	Names []string // QLM's name first, then the spellings also accepted
	Use   string   // what keysmith does with it
}

// Columns are the licenses file's columns keysmith reads; every other
// column is stored with the line (orders.fields) and otherwise ignored.
var Columns = []Column{
	{[]string{"ActivationKey", "avkey"}, "required: the legacy key, checked by /v1/activate, /v1/validate, /v1/release, /v1/exchange, renewals and look-ups"},
	{[]string{"ProductID"}, "required: the product (must be in keysmith.yaml)"},
	{[]string{"MajorVersion"}, "the product's version (may be left out when the product has one)"},
	{[]string{"MinorVersion"}, "the product's version"},
	{[]string{"ProductName"}, "stored (the configured name is used for mail)"},
	{[]string{"Features"}, "the key's features, QLM's set:bits;... form"},
	{[]string{"NumLicenses"}, "the key's seats (1 when empty)"},
	{[]string{"LicenseModel"}, "trial, subscription, permanent (none or empty: permanent), optionally _floating or _cloud"},
	{[]string{"ExpiryDate", "SubscriptionExpiryDate"}, "the expiry date"},
	{[]string{"MaintenanceRenewalDate"}, "the maintenance plan's end"},
	{[]string{"OrderID"}, "the storefront's order number: the line's PURCHASE_ID (empty: QLM-<ActivationKey>)"},
	{[]string{"OrderDate", "CreationDate"}, "the order's date, the keys' issue day (empty: the day of the import, with a warning)"},
	{[]string{"Email", "UserEmail"}, "the customer"},
	{[]string{"FullName", "UserFullName"}, "the customer's name"},
	{[]string{"Company", "UserCompany"}, "the customer's company"},
	{[]string{"ComputerID"}, "a computer holding a seat (single-activation keys)"},
	{[]string{"ComputerName"}, "that computer's name"},
	{[]string{"ActivationDate"}, "when it was activated"},
	{[]string{"Revoked", "Disabled"}, "true, 1 or yes: the key is revoked"},
	{[]string{"ComputerKey"}, "ignored: keysmith signs its own computer licenses"},
	{[]string{"AvailableLicenses", "ActivationCount"}, "ignored: keysmith counts its seats"},
}

// ActivationColumns are the activations file's columns.
var ActivationColumns = []Column{
	{[]string{"ActivationKey", "avkey"}, "required: the license"},
	{[]string{"ComputerID"}, "required: the computer"},
	{[]string{"ComputerName"}, "its name"},
	{[]string{"ActivationDate"}, "when"},
	{[]string{"ReleaseDate"}, "set: the seat was released, and is not imported"},
}

// CustomerColumns are the customers file's columns.
var CustomerColumns = []Column{
	{[]string{"Email", "UserEmail"}, "required: the customer's identity"},
	{[]string{"FullName", "UserFullName"}, "name"},
	{[]string{"Company", "UserCompany"}, "company"},
	{[]string{"Phone", "UserPhone"}, "phone"},
	{[]string{"Address1", "Address", "Street"}, "street"},
	{[]string{"City"}, "city"},
	{[]string{"State"}, "state"},
	{[]string{"PostalCode", "Zip"}, "zip"},
	{[]string{"Country"}, "country"},
}

// License is one row of the licenses file, read and checked.
type License struct {
	Row        int    // the row's line number in the file
	LegacyKey  string // QLM's key, normalized (upper case, no dashes or spaces)
	LegacyText string // QLM's key as the file has it
	Line       order.Line
	Revoked    bool
	Computers  []Computer
}

// Computer is a computer holding a seat of an imported key.
type Computer struct {
	ID, Name    string
	ActivatedAt time.Time // zero when unknown
}

// RowError is a row that cannot be imported.
type RowError struct {
	Row    int
	Reason string
}

func (e RowError) Error() string { return fmt.Sprintf("row %d: %s", e.Row, e.Reason) }

// Options are how rows become lines.
type Options struct {
	// Provider names the lines' provider ("qlm-import", or the storefront
	// the order IDs come from, such as "shareit").
	Provider string
	// Config has the products.
	Config *config.Config
	// DateLayout reads dates written another way than ISO 8601 or QLM's
	// en-US default (M/d/yyyy h:mm:ss tt); "" for those.
	DateLayout string
	// Today dates a license without an order date.
	Today time.Time
	// Customers and Activations, from their files, by normalized key and by
	// lower-case email.
	Customers   map[string]order.Customer
	Activations map[string][]Computer
}

// header maps a file's columns to their index.
type header map[string]int

func fold(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r != ' ' && r != '_' && r != '-' && !unicode.IsControl(r) && r != '\ufeff' {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func readHeader(r *csv.Reader) (header, []string, error) {
	record, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	names := append([]string(nil), record...) // the reader reuses its record
	if len(names) > 0 {
		names[0] = strings.TrimPrefix(names[0], "\ufeff") // a byte-order mark, as Excel writes
	}
	h := header{}
	for i, n := range names {
		h[fold(n)] = i
	}
	return h, names, nil
}

// get is a row's value of the first column the file has among names.
func (h header) get(row []string, names ...string) string {
	for _, n := range names {
		if i, ok := h[fold(n)]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
	}
	return ""
}

func (h header) has(names ...string) bool {
	for _, n := range names {
		if _, ok := h[fold(n)]; ok {
			return true
		}
	}
	return false
}

func newReader(in io.Reader) *csv.Reader {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1 // a short row is reported, not fatal
	r.ReuseRecord = true
	r.LazyQuotes = true
	return r
}

// Licenses reads the licenses file row by row, calling each with a license
// or a row error. It stops at a CSV error that leaves the rest unreadable.
func Licenses(in io.Reader, o Options, each func(License, *RowError) error) error {
	r := newReader(in)
	h, names, err := readHeader(r)
	if err != nil {
		return err
	}
	if !h.has("ActivationKey", "avkey") || !h.has("ProductID") {
		return errors.New("header: an ActivationKey and a ProductID column are required")
	}
	known := map[string]bool{}
	for _, c := range Columns {
		for _, n := range c.Names {
			known[fold(n)] = true
		}
	}
	seen := map[string]int{}    // legacy key -> row
	running := map[string]int{} // order ID -> lines so far
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) && !errors.Is(perr.Err, csv.ErrQuote) {
				if err := each(License{}, &RowError{Row: perr.Line, Reason: perr.Err.Error()}); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("line %d: %w", line, err)
		}
		lic, reason := o.license(h, names, known, row, line, seen, running)
		var rerr *RowError
		if reason != "" {
			rerr = &RowError{Row: line, Reason: reason}
		}
		if err := each(lic, rerr); err != nil {
			return err
		}
	}
}

func (o Options) license(h header, names []string, known map[string]bool, row []string, line int, seen, running map[string]int) (License, string) {
	get := func(n ...string) string { return h.get(row, n...) }
	raw := get("ActivationKey", "avkey")
	legacy := normalizeKey(raw)
	switch {
	case legacy == "":
		return License{}, "ActivationKey: empty"
	case len(legacy) > 128 || strings.IndexFunc(legacy, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0:
		return License{}, "ActivationKey: not a license key (printable ASCII, at most 128 characters)"
	}
	if first, dup := seen[legacy]; dup {
		return License{}, fmt.Sprintf("ActivationKey: %s is also on row %d", raw, first)
	}
	seen[legacy] = line

	var warnings []string
	prodID, err := uintField(get("ProductID"))
	if err != nil {
		return License{}, "ProductID: " + err.Error()
	}
	major, minor, err := o.version(uint32(prodID), get("MajorVersion"), get("MinorVersion"))
	if err != nil {
		return License{}, err.Error()
	}
	prod, _ := o.Config.Product(uint32(prodID), major, minor)
	features, err := qlm.ParseFeatures(get("Features"))
	if err != nil {
		return License{}, "Features: " + err.Error()
	}
	seats := 1
	if s := get("NumLicenses"); s != "" {
		n, err := uintField(s)
		if err != nil || n < 1 || n > qlm.MaxSeats {
			return License{}, fmt.Sprintf("NumLicenses: %q is not 1 to %d", s, qlm.MaxSeats)
		}
		seats = int(n)
	}
	modelName := get("LicenseModel")
	if strings.EqualFold(modelName, "none") {
		modelName = ""
	}
	model, binding, err := license.ParseModel(modelName)
	if err != nil {
		return License{}, "LicenseModel: " + err.Error()
	}
	dates := map[string]time.Time{}
	for _, f := range [][]string{{"ExpiryDate", "SubscriptionExpiryDate"}, {"MaintenanceRenewalDate"}, {"OrderDate", "CreationDate"}, {"ActivationDate"}} {
		v := get(f...)
		if v == "" {
			continue
		}
		t, err := o.date(v)
		if err != nil {
			return License{}, fmt.Sprintf("%s: %q: %v", f[0], v, err)
		}
		dates[f[0]] = t
	}
	orderDate := dates["OrderDate"]
	if orderDate.IsZero() {
		orderDate = o.Today
		warnings = append(warnings, "import: no OrderDate; dated the day of the import")
	}
	if orderDate.Before(license.FirstDay) || orderDate.After(license.LastDay) {
		return License{}, fmt.Sprintf("OrderDate: %s is outside the dates a key holds (%s to %s)", orderDate.Format(time.DateOnly),
			license.FirstDay.Format(time.DateOnly), license.LastDay.Format(time.DateOnly))
	}
	expires := dates["ExpiryDate"]
	if !expires.IsZero() && (!expires.After(orderDate) || expires.After(license.LastDay)) {
		return License{}, fmt.Sprintf("ExpiryDate: %s is not after the order (%s) and before %s", expires.Format(time.DateOnly),
			orderDate.Format(time.DateOnly), license.LastDay.Format(time.DateOnly))
	}
	maintenance := dates["MaintenanceRenewalDate"]
	if !maintenance.IsZero() && maintenance.After(license.LastDay) {
		return License{}, "MaintenanceRenewalDate: after " + license.LastDay.Format(time.DateOnly)
	}
	revoked, err := boolField(get("Revoked", "Disabled"))
	if err != nil {
		return License{}, "Revoked: " + err.Error()
	}

	purchase := get("OrderID")
	if purchase == "" {
		purchase = "QLM-" + legacy
	}
	if len(purchase) > 128 || strings.IndexFunc(purchase, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return License{}, "OrderID: unprintable or over 128 bytes"
	}
	running[purchase]++

	customer := order.Customer{Email: get("Email", "UserEmail"), Name: get("FullName", "UserFullName"), Company: get("Company", "UserCompany")}
	if c, ok := o.Customers[strings.ToLower(customer.Email)]; ok {
		customer = mergeCustomer(c, customer)
	}
	var computers []Computer
	if id := get("ComputerID"); id != "" {
		computers = append(computers, Computer{ID: id, Name: get("ComputerName"), ActivatedAt: dates["ActivationDate"]})
	}
	for _, c := range o.Activations[legacy] {
		if !hasComputer(computers, c.ID) {
			computers = append(computers, c)
		}
	}
	if len(computers) > seats {
		return License{}, fmt.Sprintf("%d computers hold seats of a key with %d (NumLicenses)", len(computers), seats)
	}

	fields := map[string]string{}
	for i, n := range names {
		if i < len(row) && row[i] != "" && !known[fold(n)] {
			fields[n] = row[i]
		}
	}
	fields["ActivationKey"] = raw
	l := order.Line{
		LineID:    order.LineID{Provider: o.Provider, PurchaseID: purchase, RunningNo: strconv.Itoa(running[purchase])},
		OrderDate: orderDate,
		Product:   order.Product{ID: uint32(prodID), Major: major, Minor: minor, Name: prod.Name, FeatureNames: prod.FeatureNames(features)},
		Features:  features,
		Quantity:  seats,
		KeyCount:  1,
		Seats:     seats,
		Model:     license.ModelName(model, binding),
		Expires:   expires,
		// Imported buyers have their QLM key: nothing is mailed.
		Email:    order.Email{Send: false, Template: prod.EmailTemplate},
		Customer: customer,
		Fields:   fields,
		Args:     map[string]string{},
		Warnings: warnings,
	}
	if prod.KeyFormat == "short" {
		l.KeyFormat = "short"
	}
	if !maintenance.IsZero() {
		l.Maintenance = maintenance
	}
	if n := get("ProductName"); n != "" {
		l.Fields["ProductName"] = n
	}
	return License{Row: line, LegacyKey: legacy, LegacyText: raw, Line: l, Revoked: revoked, Computers: computers}, ""
}

// version finds the configured product version, as the key generator
// does: a version may be left out when the product has only one.
func (o Options) version(id uint32, majorS, minorS string) (uint32, uint32, error) {
	if majorS == "" && minorS == "" {
		versions := o.Config.Versions(id)
		if len(versions) != 1 {
			return 0, 0, fmt.Errorf("MajorVersion: missing, and product %d has %d versions in keysmith.yaml", id, len(versions))
		}
		var major, minor uint32
		fmt.Sscanf(versions[0], "%d.%d", &major, &minor) //nolint:errcheck // the config's own format
		return major, minor, nil
	}
	major, err := uintField(majorS)
	if err != nil {
		return 0, 0, fmt.Errorf("MajorVersion: %v", err)
	}
	minor := uint64(0)
	if minorS != "" {
		if minor, err = uintField(minorS); err != nil {
			return 0, 0, fmt.Errorf("MinorVersion: %v", err)
		}
	}
	if _, ok := o.Config.Product(id, uint32(major), uint32(minor)); !ok {
		return 0, 0, fmt.Errorf("ProductID: product %d version %d.%d is not in keysmith.yaml", id, major, minor)
	}
	return uint32(major), uint32(minor), nil
}

// dateLayouts are how QLM's exports write dates: ISO 8601 (its database and
// GetDataSetEx), and the en-US console's M/d/yyyy with or without a time.
var dateLayouts = []string{time.DateOnly, time.DateTime, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02T15:04:05.999999999",
	"1/2/2006", "1/2/2006 3:04:05 PM", "1/2/2006 3:04 PM", "1/2/2006 15:04:05", "1/2/2006 15:04"}

func (o Options) date(s string) (time.Time, error) {
	layouts := dateLayouts
	if o.DateLayout != "" {
		layouts = append([]string{o.DateLayout}, layouts...)
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
		}
	}
	return time.Time{}, errors.New("not a date (yyyy-MM-dd, M/d/yyyy, with or without a time, or -date-format)")
}

func uintField(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

func boolField(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "false", "no", "n":
		return false, nil
	case "1", "true", "yes", "y", "-1":
		return true, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

func normalizeKey(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "", "\t", "").Replace(strings.TrimSpace(s)))
}

func hasComputer(cs []Computer, id string) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}

// mergeCustomer fills what the license row lacks from the customers file.
func mergeCustomer(file, row order.Customer) order.Customer {
	if row.Name != "" {
		file.Name = row.Name
	}
	if row.Company != "" {
		file.Company = row.Company
	}
	if row.Email != "" {
		file.Email = row.Email
	}
	return file
}

// eachRow reads a side file (activations, customers): its header must have
// each of required (one of the spellings of each), and each row goes to fn
// with its line number; a row fn finds bad is returned with its reason.
func eachRow(in io.Reader, what string, required [][]string, fn func(h header, row []string, line int) string) ([]RowError, error) {
	r := newReader(in)
	h, _, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	for _, names := range required {
		if !h.has(names...) {
			return nil, fmt.Errorf("%s header: a %s column is required", what, names[0])
		}
	}
	var bad []RowError
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", what, line, err)
		}
		if reason := fn(h, row, line); reason != "" {
			bad = append(bad, RowError{Row: line, Reason: what + ": " + reason})
		}
	}
}

// ReadActivations reads the activations file: the computers holding each
// key's seats (released ones left out), by normalized key. Bad rows are
// returned with their line numbers.
func ReadActivations(in io.Reader, o Options) (map[string][]Computer, []RowError, error) {
	out := map[string][]Computer{}
	bad, err := eachRow(in, "activations", [][]string{{"ActivationKey", "avkey"}, {"ComputerID"}}, func(h header, row []string, _ int) string {
		key, id := normalizeKey(h.get(row, "ActivationKey", "avkey")), h.get(row, "ComputerID")
		switch {
		case key == "" || id == "":
			return "ActivationKey and ComputerID are required"
		case h.get(row, "ReleaseDate") != "":
			return "" // released: not a seat any more
		}
		c := Computer{ID: id, Name: h.get(row, "ComputerName")}
		if v := h.get(row, "ActivationDate"); v != "" {
			var err error
			if c.ActivatedAt, err = o.date(v); err != nil {
				return fmt.Sprintf("ActivationDate %q: %v", v, err)
			}
		}
		if !hasComputer(out[key], id) {
			out[key] = append(out[key], c)
		}
		return ""
	})
	if err != nil {
		return nil, nil, err
	}
	return out, bad, nil
}

// ReadCustomers reads the customers file, by lower-case email.
func ReadCustomers(in io.Reader) (map[string]order.Customer, []RowError, error) {
	out := map[string]order.Customer{}
	bad, err := eachRow(in, "customers", [][]string{{"Email", "UserEmail"}}, func(h header, row []string, _ int) string {
		get := func(n ...string) string { return h.get(row, n...) }
		c := order.Customer{Email: get("Email", "UserEmail"), Name: get("FullName", "UserFullName"), Company: get("Company", "UserCompany"),
			Phone: get("Phone", "UserPhone"), Street: get("Address1", "Address", "Street"), City: get("City"), State: get("State"),
			Zip: get("PostalCode", "Zip"), Country: get("Country")}
		if c.Email == "" {
			return "Email is required"
		}
		out[strings.ToLower(c.Email)] = c
		return ""
	})
	if err != nil {
		return nil, nil, err
	}
	return out, bad, nil
}
