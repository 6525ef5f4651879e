package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// MaxBodyBytes bounds every JSON request body.
const MaxBodyBytes = 16 << 10

// ErrEmptyBody is returned by DecodeJSON when the request has no body;
// endpoints whose body is optional treat it as "all defaults".
var ErrEmptyBody = BadRequest("The request body is empty.")

// DecodeJSON reads at most MaxBodyBytes of JSON into dst, whatever the
// Content-Type says (curl's default form type included). Unknown fields,
// trailing data and type mismatches are 400s naming the field, an oversized
// body is 413: a typo in a field name must not be silently ignored.
func DecodeJSON(c *gin.Context, dst any) error {
	body, err := ReadBody(c)
	if err != nil {
		return err
	}
	return DecodeJSONBytes(body, dst)
}

// ReadBody reads at most MaxBodyBytes of the request body, for handlers
// that must look into a body (say, which tenant it names) before they may
// hold its caller to its full validation.
func ReadBody(c *gin.Context) ([]byte, error) {
	// Refused before reading, so a client that announces more than it
	// sends is not waited for until the read timeout.
	if c.Request.ContentLength > MaxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	if err != nil {
		var over *http.MaxBytesError
		if errors.As(err, &over) {
			return nil, tooLarge
		}
		return nil, BadRequest("The request body could not be read.")
	}
	return body, nil
}

var tooLarge = NewProblem(http.StatusRequestEntityTooLarge, "request_too_large",
	fmt.Sprintf("The request body exceeds %d bytes.", MaxBodyBytes))

// DecodeJSONBytes is DecodeJSON on a body already read.
func DecodeJSONBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return ErrEmptyBody
	}
	// JSON is UTF-8 (RFC 8259); the decoder would turn other bytes into
	// U+FFFD and store text the client never sent.
	if !utf8.Valid(body) {
		return BadRequest("The request body is not UTF-8 text.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	// More() misses a stray "]" or "}"; only a clean end of input will do.
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("The request body must be a single JSON object.")
	}
	if name, ok := repeatedName(body); ok {
		return BadRequest("The request body is invalid.", FieldError{Field: name, Message: "appears more than once"})
	}
	// Postgres text cannot hold NUL: refuse it here, once, for every field.
	// Only JSON's escape can put a NUL in a string; the escape found is a
	// hint, since "\\u0000" is a backslash and text: the decoded value decides.
	if bytes.Contains(body, []byte(`\u0000`)) {
		if field, ok := nulField(reflect.ValueOf(dst), ""); ok {
			return BadRequest("The request body is invalid.", FieldError{Field: field, Message: "must not contain NUL characters"})
		}
	}
	return nil
}

// nulField names the first string field of v (by its JSON path) that
// holds a NUL character; ok is false when none does.
func nulField(v reflect.Value, path string) (field string, ok bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nulField(v.Elem(), path)
		}
	case reflect.String:
		if strings.ContainsRune(v.String(), 0) {
			return path, true
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if f.Anonymous {
				name = ""
			}
			if p, ok := nulField(v.Field(i), join(path, name)); ok {
				return p, true
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if strings.ContainsRune(k.String(), 0) {
				return path, true
			}
			if p, ok := nulField(v.MapIndex(k), join(path, k.String())); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		// Raw JSON keeps its escapes, and jsonb refuses this one too.
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			return path, bytes.Contains(v.Bytes(), []byte(`\u0000`))
		}
		for i := 0; i < v.Len(); i++ {
			if p, ok := nulField(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// repeatedName finds a member name that appears twice in one object of
// body, a valid JSON value. Names are compared as the decoder matches them
// to fields, without regard to case. The decoder keeps the last of two;
// another reader (a proxy, a log) may take the first and see another
// request than this server does.
func repeatedName(body []byte) (string, bool) {
	type level struct {
		names    map[string]bool // nil in an array
		wantName bool
	}
	var stack []level
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, level{names: map[string]bool{}, wantName: true})
				continue
			case '[':
				stack = append(stack, level{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top := len(stack) - 1; top >= 0 && stack[top].wantName {
				key := strings.ToLower(v)
				if stack[top].names[key] {
					return v, true
				}
				stack[top].names[key], stack[top].wantName = true, false
				continue
			}
		}
		// A value ended: an object's next token is a name.
		if top := len(stack) - 1; top >= 0 && stack[top].names != nil {
			stack[top].wantName = true
		}
	}
}

func join(path, name string) string {
	if path == "" || name == "" {
		return path + name
	}
	return path + "." + name
}

func decodeProblem(err error) *Problem {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("The request body is not valid JSON.")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return BadRequest("The request body must be a JSON object.")
		}
		return BadRequest("A field has the wrong type.",
			FieldError{Field: field, Message: "must be " + jsonKind(typ.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return BadRequest("The request body has an unknown field.",
			FieldError{Field: field, Message: "unknown field"})
	default:
		return BadRequest("The request body is not valid JSON.")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "uint", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "ptr":
		return "a valid value"
	default:
		return "an object"
	}
}

// Text reports whether s can be stored as text: valid UTF-8 without NUL.
func Text(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Query returns the query parameter name if it is text of at most max
// bytes, else a 400 naming it.
func Query(c *gin.Context, name string, max int) (string, error) {
	v := c.Query(name)
	if len(v) > max || !Text(v) {
		return "", BadRequest("The query is invalid.",
			FieldError{Field: name, Message: fmt.Sprintf("must be UTF-8 text of at most %d bytes", max)})
	}
	return v, nil
}
