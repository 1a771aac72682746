package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

// DefaultTemplate is the name of the built-in template.
const DefaultTemplate = "default"

//go:embed templates/*.tmpl
var builtinTemplates embed.FS

// Data is what a template can show. Besides the fields, templates can use the
// names QLM's email templates use, so that a vendor moving from QLM finds
// them: ActivationKey, NumLicenses, EnabledFeatures, MajorVersion,
// MinorVersion (and OrderID, OrderDate, ProductName, LicenseModel, FullName,
// Email, Company, which are fields).
type Data struct {
	Keys         []string
	ProductName  string
	ProductID    uint32
	Major, Minor uint32
	OrderID      string
	OrderDate    time.Time
	Seats        int
	Features     string // as QLM writes them: "0:3;1:1"
	FeatureNames []string
	LicenseModel string    // QLM's name: permanent, trial, subscription, each also _floating or _cloud
	Expires      time.Time // zero: does not expire
	// MaintenanceRenewalDate is the end of the maintenance plan (QLM's
	// name); zero: no plan.
	MaintenanceRenewalDate time.Time
	// Renewal is true when the keys renew a subscription or maintenance
	// plan bought earlier.
	Renewal  bool
	FullName string
	Email    string
	Company  string
}

// ActivationKey is every key, one per line (a single key for most orders).
func (d Data) ActivationKey() string { return strings.Join(d.Keys, "\n") }

// NumLicenses is QLM's name for Seats.
func (d Data) NumLicenses() int { return d.Seats }

// EnabledFeatures lists the feature names, comma separated.
func (d Data) EnabledFeatures() string { return strings.Join(d.FeatureNames, ", ") }

// MajorVersion is QLM's name for Major.
func (d Data) MajorVersion() uint32 { return d.Major }

// MinorVersion is QLM's name for Minor.
func (d Data) MinorVersion() uint32 { return d.Minor }

// Version is "Major.Minor".
func (d Data) Version() string { return fmt.Sprintf("%d.%d", d.Major, d.Minor) }

// Templates holds parsed email templates by name.
type Templates struct {
	sets map[string]templateSet
}

type templateSet struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template // nil: the email has no HTML part
}

// The three files of a template; subject and text are required, HTML is
// optional for vendors who send plain text only.
const (
	partSubject = "subject"
	partText    = "txt"
	partHTML    = "html"
)

// LoadTemplates parses the built-in "default" template and, when dir is not
// "", every <name>.subject.tmpl, <name>.txt.tmpl and <name>.html.tmpl in dir.
// A file in dir replaces the built-in file of the same name, so a vendor can
// change only the HTML of "default", or add templates of their own.
//
// Everything is parsed, and executed once with sample data, here: a typo in a
// template then stops the server at start-up instead of failing the first
// order's email.
func LoadTemplates(dir string) (*Templates, error) {
	sources := map[string]map[string]source{} // name -> part -> source
	if err := collectTemplates(sources, builtinTemplates, "templates", "templates"); err != nil {
		return nil, err
	}
	if dir != "" {
		if err := collectTemplates(sources, os.DirFS(dir), ".", dir); err != nil {
			return nil, err
		}
	}

	t := &Templates{sets: map[string]templateSet{}}
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		set, err := parseSet(name, sources[name])
		if err != nil {
			return nil, err
		}
		if _, _, _, err := set.render(sampleData); err != nil {
			return nil, fmt.Errorf("mail: template %q fails on sample data: %w", name, err)
		}
		t.sets[name] = set
	}
	return t, nil
}

type source struct {
	file string // for error messages
	text string
}

func collectTemplates(sources map[string]map[string]source, fsys fs.FS, root, shownDir string) error {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return fmt.Errorf("mail: read templates: %w", err)
	}
	for _, e := range entries {
		file := e.Name()
		if e.IsDir() || strings.HasPrefix(file, ".") || !strings.HasSuffix(file, ".tmpl") {
			continue
		}
		shown := filepath.Join(shownDir, file)
		// The part is after the last dot, so names may contain dots.
		base := strings.TrimSuffix(file, ".tmpl")
		var name, part string
		if i := strings.LastIndexByte(base, '.'); i > 0 {
			name, part = base[:i], base[i+1:]
		}
		if name == "" || (part != partSubject && part != partText && part != partHTML) {
			return fmt.Errorf("mail: template file %s: want <name>.subject.tmpl, <name>.txt.tmpl or <name>.html.tmpl", shown)
		}
		text, err := fs.ReadFile(fsys, path.Join(root, file))
		if err != nil {
			return fmt.Errorf("mail: read template: %w", err)
		}
		if sources[name] == nil {
			sources[name] = map[string]source{}
		}
		sources[name][part] = source{file: shown, text: string(text)}
	}
	return nil
}

func parseSet(name string, parts map[string]source) (templateSet, error) {
	var set templateSet
	for _, part := range []string{partSubject, partText} {
		if _, ok := parts[part]; !ok {
			return set, fmt.Errorf("mail: template %q has no %s.%s.tmpl", name, name, part)
		}
	}
	var err error
	if set.subject, err = texttemplate.New(parts[partSubject].file).Parse(parts[partSubject].text); err != nil {
		return set, fmt.Errorf("mail: %w", err)
	}
	if set.text, err = texttemplate.New(parts[partText].file).Parse(parts[partText].text); err != nil {
		return set, fmt.Errorf("mail: %w", err)
	}
	if src, ok := parts[partHTML]; ok {
		// html/template, not text/template: names and company come from the
		// buyer's order form and must not become markup in the email.
		if set.html, err = htmltemplate.New(src.file).Parse(src.text); err != nil {
			return set, fmt.Errorf("mail: %w", err)
		}
	}
	return set, nil
}

// Names lists the loaded templates, for checking configuration at start-up.
func (t *Templates) Names() []string {
	return slices.Sorted(maps.Keys(t.sets))
}

// Has reports whether a template of that name is loaded.
func (t *Templates) Has(name string) bool {
	_, ok := t.sets[name]
	return ok
}

// Render fills template name with d. html is "" when the template has no HTML
// part. The subject is trimmed to one line.
func (t *Templates) Render(name string, d Data) (subject, text, html string, err error) {
	set, ok := t.sets[name]
	if !ok {
		return "", "", "", fmt.Errorf("mail: unknown email template %q", name)
	}
	return set.render(d)
}

func (s templateSet) render(d Data) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err := s.subject.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("mail: %w", err)
	}
	// Editors end files with a newline; a header must not contain one.
	subject = strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return "", "", "", errors.New("mail: template " + s.subject.Name() + " rendered an empty subject")
	}

	b.Reset()
	if err := s.text.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("mail: %w", err)
	}
	text = b.String()

	if s.html != nil {
		b.Reset()
		if err := s.html.Execute(&b, d); err != nil {
			return "", "", "", fmt.Errorf("mail: %w", err)
		}
		html = b.String()
	}
	return subject, text, html, nil
}

// sampleData fills every field so that a trial render at load time reaches
// every field a template names.
var sampleData = Data{
	Keys:         []string{"SAMPLE-KEY-1", "SAMPLE-KEY-2"},
	ProductName:  "Sample Product",
	ProductID:    1,
	Major:        1,
	Minor:        0,
	OrderID:      "12345678",
	OrderDate:    time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
	Seats:        2,
	Features:     "0:3;1:1",
	FeatureNames: []string{"Pro", "Export"},
	LicenseModel: "subscription",
	Expires:      time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
	FullName:     "Sample Buyer",
	Email:        "buyer@example.com",
	Company:      "Sample Ltd",
}
