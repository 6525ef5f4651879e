package wechat

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Errcodes WeChat answers on the endpoints this client calls. Match on these,
// never on errmsg: it carries a per-request rid and changes between calls.
const (
	CodeSystemBusy       = -1    // transient; also reported as ErrUnavailable
	CodeInvalidToken     = 40001 // access_token invalid or not the latest one
	CodeInvalidGrantType = 40002
	CodeInvalidAppID     = 40013
	CodeMalformedToken   = 40014
	CodeInvalidCode      = 40029 // unknown or expired login/phone code
	CodeInvalidSecret    = 40125
	CodeCodeUsed         = 40163 // login code already exchanged
	CodeIPNotAllowed     = 40164 // caller's IP is not on the app's whitelist
	CodeHighRisk         = 40226 // WeChat blocks this user's login
	CodeTokenMissing     = 41001
	CodeAppIDMissing     = 41002
	CodeSecretMissing    = 41004
	CodeCodeMissing      = 41008
	CodeOpenIDMissing    = 41009
	CodeTokenExpired     = 42001
	CodeDailyQuota       = 45009
	CodeFrequencyLimit   = 45011 // 100 logins per user per minute
	CodeBadRequestBody   = 47001
	CodeUnauthorizedAPI  = 48001 // the app lacks the permission for this API
	CodeInvalidScene     = 40129 // getwxacodeunlimit: scene has characters outside the allowed set
	CodeSceneTooLong     = 40169 // getwxacodeunlimit: scene over 32 characters, or the body is not JSON
	CodeInvalidPage      = 41030 // getwxacodeunlimit: page malformed, or not in the released version
	CodeBadSigMethod     = 87008
	CodeInvalidSignature = 87009 // checksession: session_key is not the current one
)

// ErrUnavailable is wrapped by every error that means WeChat gave no usable
// answer: transport failure, timeout, non-200 status, unparsable body, a
// "success" without the fields it must carry, and errcode -1. Callers map it
// to a 502; for jscode2session they must not retry, as the code may be spent.
var ErrUnavailable = errors.New("wechat: unavailable")

// APIError is WeChat answering with a non-zero errcode.
type APIError struct {
	Code int
	Msg  string // errmsg with any credential of the call scrubbed out
}

func (e *APIError) Error() string {
	return "wechat: errcode " + strconv.Itoa(e.Code) + ": " + e.Msg
}

// Is makes errors.Is(err, ErrUnavailable) hold for -1: "system busy" is, to a
// caller, the same as no answer at all.
func (e *APIError) Is(target error) bool {
	return target == ErrUnavailable && e.Code == CodeSystemBusy
}

// IsCode reports whether err carries one of the given errcodes.
func IsCode(err error, codes ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.Code == c {
			return true
		}
	}
	return false
}

// IsTokenInvalid reports whether err means the access token must be
// re-fetched; WeChat uses three codes for this and they are to be treated alike.
func IsTokenInvalid(err error) bool {
	return IsCode(err, CodeInvalidToken, CodeMalformedToken, CodeTokenExpired)
}

type unavailableError struct {
	op     string
	detail string // already scrubbed
	cause  error
}

func (e *unavailableError) Error() string {
	return "wechat " + e.op + ": unavailable: " + e.detail
}

func (e *unavailableError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.cause}
}

func unavailable(op, detail string) error {
	return &unavailableError{op: op, detail: detail}
}

// transportError drops the *url.Error layer: its text is the full request URL,
// whose query carries the AppSecret or access token.
func transportError(op string, err error, secrets []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &unavailableError{op: op, detail: scrub(err.Error(), secrets), cause: err}
}

// scrub removes credentials, raw and query-escaped, from text that may reach
// an error message: a misbehaving upstream or proxy may echo the request.
// Values shorter than minScrub are left alone: real credentials are 24+
// characters, and replacing a one-letter test code would garble every message.
func scrub(s string, secrets []string) string {
	const minScrub = 8
	for _, v := range secrets {
		if len(v) < minScrub {
			continue
		}
		s = strings.ReplaceAll(s, v, "[redacted]")
		if esc := url.QueryEscape(v); esc != v {
			s = strings.ReplaceAll(s, esc, "[redacted]")
		}
	}
	return s
}
