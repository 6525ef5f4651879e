// Package views holds the console's templ views, one file and view model
// per screen, and the catalogue of their strings in English and Chinese.
package views

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Lang is a console language.
type Lang string

const (
	English Lang = "en"
	Chinese Lang = "zh"
)

// ParseLang accepts exactly the languages the console speaks.
func ParseLang(s string) (Lang, bool) {
	switch Lang(s) {
	case English, Chinese:
		return Lang(s), true
	}
	return "", false
}

// FromAcceptLanguage picks Chinese for any zh* preference that outranks
// English, else English.
func FromAcceptLanguage(header string) Lang {
	for _, part := range strings.Split(header, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(tag)
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			return Chinese
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return English
		}
	}
	return English
}

// Locale is the viewer's language and time zone.
type Locale struct {
	Lang Lang
	Zone *time.Location
}

type localeKey struct{}

// WithLocale stores the viewer's locale for the views.
func WithLocale(ctx context.Context, l Locale) context.Context {
	return context.WithValue(ctx, localeKey{}, l)
}

// LocaleOf is the locale WithLocale stored (English, UTC by default).
func LocaleOf(ctx context.Context) Locale {
	l, ok := ctx.Value(localeKey{}).(Locale)
	if !ok || l.Zone == nil {
		return Locale{Lang: orEnglish(l.Lang), Zone: time.UTC}
	}
	return l
}

func orEnglish(l Lang) Lang {
	if l == "" {
		return English
	}
	return l
}

// msg is one string in both languages; %-verbs take T's arguments.
type msg struct{ en, zh string }

type catalog map[string]msg

var messages = catalog{}

// register adds a screen's strings; each screen's file registers its
// own, and a key defined twice stops the program at start.
func register(c catalog) {
	for k, m := range c {
		if _, dup := messages[k]; dup {
			panic("views: message " + k + " defined twice")
		}
		if m.en == "" || m.zh == "" {
			panic("views: message " + k + " lacks a language")
		}
		messages[k] = m
	}
}

// Missing marks a string the catalogue lacks; view tests look for it.
const Missing = "⟦missing:"

// T is the viewer's translation of key.
func T(ctx context.Context, key string, args ...any) string {
	return Translate(LocaleOf(ctx).Lang, key, args...)
}

// Translate is key in lang.
func Translate(lang Lang, key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return Missing + key + "⟧"
	}
	s := m.en
	if lang == Chinese {
		s = m.zh
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Has reports whether key is in the catalogue.
func Has(key string) bool { _, ok := messages[key]; return ok }

// FieldMessage translates a domain validation message ("must be ...");
// messages the catalogue does not know are shown as the domain wrote them.
func FieldMessage(ctx context.Context, message string) string {
	if m, ok := messages["field: "+message]; ok {
		if LocaleOf(ctx).Lang == Chinese {
			return m.zh
		}
		return m.en
	}
	return message
}

// Time formats t in the viewer's zone.
func Time(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(LocaleOf(ctx).Zone).Format("2006-01-02 15:04:05")
}

// TimePtr formats an optional time.
func TimePtr(ctx context.Context, t *time.Time) string {
	if t == nil {
		return "—"
	}
	return Time(ctx, *t)
}

// ISO is t as an RFC 3339 datetime attribute.
func ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }
