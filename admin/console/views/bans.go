package views

import (
	"net/url"

	"github.com/miniauth/miniauth/auth"
)

// BansPage is one page of a tenant's bans (Slug "": the platform-wide
// ones), and the form that creates one.
type BansPage struct {
	Page
	Slug  string
	Kind  string // "" or the kind listed
	Bans  []auth.Ban
	Next  string
	Paged bool
	// CanWrite offers the create form and the lift buttons.
	CanWrite bool
	Form     Form
	// Confirm shows the typed confirmation a population-wide CIDR needs.
	Confirm bool
}

// Base is the list's URL.
func (m BansPage) Base() string {
	if m.Slug == "" {
		return "/admin/bans"
	}
	return "/admin/tenants/" + m.Slug + "/bans"
}

// Platform reports whether these are the platform-wide bans.
func (m BansPage) Platform() bool { return m.Slug == "" }

// URL is the list with this filter and cursor.
func (m BansPage) URL(before string) string {
	v := url.Values{}
	if m.Kind != "" {
		v.Set("kind", m.Kind)
	}
	if before != "" {
		v.Set("before", before)
	}
	if len(v) == 0 {
		return m.Base()
	}
	return m.Base() + "?" + v.Encode()
}

// KindURL is the first page of one kind ("" every kind).
func (m BansPage) KindURL(kind string) string {
	m.Kind = kind
	return m.URL("")
}

// DateTimeLocal is the datetime-local input format.
const DateTimeLocal = "2006-01-02T15:04"

func init() {
	register(catalog{
		"bans.title":          {"Bans", "封禁"},
		"bans.tenant_title":   {"Bans of %s", "%s 的封禁"},
		"bans.platform_title": {"Platform-wide bans", "全平台封禁"},
		"bans.platform_hint":  {"These IP bans apply in every tenant.", "这些 IP 封禁对所有租户生效。"},
		"bans.users_link":     {"Users", "用户"},
		"bans.empty":          {"No bans.", "没有封禁。"},
		"bans.kind":           {"Kind", "类型"},
		"bans.kind_user":      {"user", "用户"},
		"bans.kind_openid":    {"openid", "openid"},
		"bans.kind_ip":        {"IP", "IP"},
		"bans.target":         {"Target", "对象"},
		"bans.reason":         {"Reason", "原因"},
		"bans.expires":        {"Expires", "到期时间"},
		"bans.expires_hint":   {"Expires (optional, your time zone %s)", "到期时间（可选，时区 %s）"},
		"bans.never":          {"never", "永不"},
		"bans.expired":        {"expired", "已过期"},
		"bans.created_by":     {"By", "操作者"},
		"bans.lift":           {"Lift", "解除"},
		"bans.lift_confirm":   {"Lift this ban?", "解除此封禁？"},
		"bans.create":         {"New ban", "新建封禁"},
		"bans.create_hint":    {"Fill exactly one of user id, openid and IP.", "用户 ID、openid、IP 三者只填一项。"},
		"bans.create_ip_hint": {"An IP address or CIDR range.", "IP 地址或 CIDR 网段。"},
		"bans.user_id":        {"User id", "用户 ID"},
		"bans.openid":         {"openid (may not have signed in yet)", "openid（可以尚未登录过）"},
		"bans.ip":             {"IP address or CIDR", "IP 地址或 CIDR"},
		"bans.submit":         {"Ban", "封禁"},
		"bans.confirm":        {"This range covers a large population. Type the CIDR again to confirm", "该网段覆盖大量用户。请再次输入该 CIDR 以确认"},
		"bans.created":        {"Ban created.", "封禁已创建。"},
		"bans.lifted":         {"Ban lifted.", "封禁已解除。"},
		"bans.bad_expiry":     {"must be a date and time", "必须是日期和时间"},
		"bans.wide_forbidden": {"Only a platform admin may ban a range wider than /%d (IPv4) or /%d (IPv6).", "只有平台管理员可以封禁大于 /%d（IPv4）或 /%d（IPv6）的网段。"},
		"bans.confirm_needed": {"This bans a whole population: type %s to confirm.", "此操作将封禁大量用户：请输入 %s 以确认。"},
		"bans.bad_kind":       {"The kind must be user, openid or ip.", "类型必须是用户、openid 或 IP。"},
		"field: exactly one of user_id, openid and ip is required": {"exactly one of user id, openid and IP is required", "用户 ID、openid、IP 必须且只能填写一项"},
		"field: is required, at most 500 characters":               {"is required, at most 500 characters", "必填，最多 500 个字符"},
		"field: must be in the future":                             {"must be in the future", "必须是将来的时间"},
		"field: must be an IP address or CIDR":                     {"must be an IP address or CIDR", "必须是 IP 地址或 CIDR"},
		"field: platform-wide bans target IPs only":                {"platform-wide bans target IPs only", "全平台封禁只能针对 IP"},
		"field: must be an openid":                                 {"must be an openid", "必须是 openid"},
		"field: no user of this tenant has this id":                {"no user of this tenant has this id", "该租户没有此 ID 的用户"},
	})
}

func kindLabel(kind string) string { return "bans.kind_" + kind }

func orAll(kind string) string {
	if kind == "" {
		return "all"
	}
	return kind
}
