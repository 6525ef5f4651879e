package views

import (
	"net/url"
	"strconv"
	"time"

	"github.com/miniauth/miniauth/auth"
)

// TenantRow is one tenant of the list.
type TenantRow struct {
	Slug, Name, Status, AppID string
	CreatedAt                 time.Time
}

// TenantListPage is the tenant list: a prefix search over slug and name,
// one keyset page of rows.
type TenantListPage struct {
	Page
	Q         string // the search prefix
	After     string // the cursor of this page ("" on the first)
	Next      string // the cursor of the next page, "" on the last
	Rows      []TenantRow
	CanCreate bool
}

// NextURL is the address of the next page of the same search.
func (m TenantListPage) NextURL() string { return tenantListURL(m.Q, m.Next) }

// FirstURL is the address of the first page of the same search.
func (m TenantListPage) FirstURL() string { return tenantListURL(m.Q, "") }

func tenantListURL(q, after string) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if after != "" {
		v.Set("after", after)
	}
	if len(v) == 0 {
		return "/admin/tenants"
	}
	return "/admin/tenants?" + v.Encode()
}

// TenantNewPage is the form that creates a tenant. Its Form never holds
// the AppSecret: a failed submit asks for it again.
type TenantNewPage struct {
	Page
	Form Form
}

// TenantInfo is the tenant a detail page shows.
type TenantInfo struct {
	Slug, Name, Status, AppID, SigningAlg string
	AccessTTLSeconds, RefreshTTLSeconds   int
	CreatedAt, UpdatedAt                  time.Time
}

// Active reports whether the tenant accepts logins.
func (t TenantInfo) Active() bool { return t.Status == "active" }

// RateLimitFields are the limits the console edits, in form order.
var RateLimitFields = []string{"login_per_ip", "login_per_tenant", "refresh_per_ip", "api_per_user"}

// TenantPage is a tenant's detail: its settings (an edit form for those
// who may change them), status, rate limits, the credentials check and
// links to its users, bans and keys.
type TenantPage struct {
	Page
	Tenant TenantInfo
	// Edit holds the settings form (never the AppSecret).
	Edit Form
	// Limits holds the tenant's own rate limits by field ("" for the
	// server default); Defaults the server's, shown as placeholders.
	Limits   Form
	Defaults map[string]string
	// Effective are the limits in force.
	Effective map[string]string
	CanEdit   bool // settings, status and limits
	// WeChat is the WeChat panel's form: qr_login_page,
	// show_linked_tenants ("true" or ""), unionid_group.
	WeChat Form
	// CanGroup: the viewer may set unionid_group (platform admins).
	CanGroup bool
	// Breaker is the tenant's WeChat circuit state on this instance.
	Breaker  string
	CanTest  bool // the credentials check
	CanUsers bool
	CanBans  bool
	CanKeys  bool
}

// Base is the tenant's console address.
func (m TenantPage) Base() string { return "/admin/tenants/" + m.Tenant.Slug }

// Credential check verdicts (auth.CredentialVerdict).
const (
	CredentialsAccepted    = "accepted"
	CredentialsWrongAppID  = "wrong_appid"
	CredentialsWrongSecret = "wrong_secret"
	CredentialsUnknown     = "unknown"
)

// CredentialsOK reports whether a verdict is good news.
func CredentialsOK(verdict string) bool { return verdict == CredentialsAccepted }

func atoi(n int) string { return strconv.Itoa(n) }

func init() {
	register(catalog{
		"tenants.title":             {"Tenants", "租户"},
		"tenants.search":            {"Search by slug or name", "按标识或名称搜索"},
		"tenants.search_hint":       {"Matches the start of the slug or the name.", "匹配标识或名称的开头。"},
		"tenants.new":               {"New tenant", "新建租户"},
		"tenants.slug":              {"Slug", "标识"},
		"tenants.name":              {"Name", "名称"},
		"tenants.appid":             {"WeChat AppID", "微信 AppID"},
		"tenants.secret":            {"WeChat AppSecret", "微信 AppSecret"},
		"tenants.secret_hint":       {"Write-only: it is stored sealed and never shown again.", "只写：加密存储，不会再次显示。"},
		"tenants.secret_keep":       {"Leave empty to keep the current AppSecret.", "留空则保留当前的 AppSecret。"},
		"tenants.alg":               {"Signing algorithm", "签名算法"},
		"tenants.alg_hint":          {"Changing it rotates the signing key.", "更改后会轮换签名密钥。"},
		"tenants.access_ttl":        {"Access token lifetime (seconds)", "访问令牌有效期（秒）"},
		"tenants.wechat":            {"WeChat", "微信"},
		"tenants.breaker":           {"WeChat circuit on this server", "本服务器的微信熔断状态"},
		"tenants.breaker_closed":    {"Closed: calls go through", "关闭：调用正常"},
		"tenants.breaker_half-open": {"Half-open: probing", "半开：试探中"},
		"tenants.breaker_open":      {"Open: WeChat keeps failing, calls paused", "打开：微信持续失败，调用已暂停"},
		"tenants.qr_page":           {"Scan-to-sign-in page (empty: home page)", "扫码登录页面（留空为首页）"},
		"tenants.show_linked":       {"Show the user's accounts in linked tenants on /me", "在 /me 中显示用户在关联租户中的账号"},
		"tenants.group":             {"unionid group (Open Platform account)", "unionid 分组（开放平台账号）"},
		"tenants.group_none":        {"No group", "未分组"},
		"tenants.wechat_saved":      {"WeChat settings of %s saved.", "已保存 %s 的微信设置。"},
		"tenants.refresh_ttl":       {"Refresh token lifetime (seconds)", "刷新令牌有效期（秒）"},
		"tenants.ttl_hint":          {"Empty for the default.", "留空使用默认值。"},
		"tenants.created":           {"Tenant %s created.", "租户 %s 已创建。"},
		"tenants.saved":             {"Tenant %s saved.", "租户 %s 已保存。"},
		"tenants.none":              {"No tenants yet.", "还没有租户。"},
		"tenants.no_match":          {"No tenant's slug or name starts with “%s”.", "没有标识或名称以“%s”开头的租户。"},
		"tenants.create":            {"Create tenant", "创建租户"},
		"tenants.settings":          {"Settings", "设置"},
		"tenants.updated":           {"Updated", "更新时间"},
		"tenants.links":             {"Manage", "管理"},
		"tenants.users":             {"Users", "用户"},
		"tenants.bans":              {"Bans", "封禁"},
		"tenants.keys":              {"Signing keys", "签名密钥"},
		"tenants.status_title":      {"Status", "状态"},
		"tenants.active_hint":       {"The tenant accepts logins.", "该租户正在接受登录。"},
		"tenants.disabled_hint":     {"The tenant refuses every login, refresh and token.", "该租户拒绝所有登录、刷新和令牌。"},
		"tenants.disable":           {"Disable tenant", "停用租户"},
		"tenants.enable":            {"Enable tenant", "启用租户"},
		"tenants.disable_confirm":   {"Disable tenant %s? Its users can no longer log in and their tokens stop working.", "确定停用租户 %s？其用户将无法登录，已有令牌也会失效。"},
		"tenants.disabled":          {"Tenant %s disabled.", "租户 %s 已停用。"},
		"tenants.enabled":           {"Tenant %s enabled.", "租户 %s 已启用。"},
		"tenants.limits":            {"Rate limits", "限流"},
		"tenants.limits_hint":       {"A count, '-', and S, M, H or D, e.g. 20-M for 20 a minute. Empty uses the server default shown.", "次数、“-”和 S、M、H 或 D，例如 20-M 表示每分钟 20 次。留空使用所示的服务器默认值。"},
		"tenants.limits_saved":      {"Rate limits of %s saved.", "%s 的限流已保存。"},
		"tenants.limit_default":     {"default %s", "默认 %s"},
		"tenants.limit_effective":   {"In force", "生效值"},
		"tenants.limit_name":        {"Limit", "限制"},
		"limit.login_per_ip":        {"Logins per IP", "每 IP 登录"},
		"limit.login_per_tenant":    {"Logins for the whole tenant", "租户总登录"},
		"limit.refresh_per_ip":      {"Token refreshes per IP", "每 IP 刷新令牌"},
		"limit.api_per_user":        {"API calls per user", "每用户 API 调用"},
		"tenants.credentials":       {"WeChat credentials", "微信凭据"},
		"tenants.test_hint":         {"Asks WeChat whether the stored AppID and AppSecret belong together. Nothing is changed.", "向微信确认已保存的 AppID 与 AppSecret 是否匹配，不会做任何更改。"},
		"tenants.test":              {"Test credentials", "测试凭据"},
		"credentials.accepted":      {"WeChat accepted the AppID and AppSecret.", "微信接受了该 AppID 和 AppSecret。"},
		"credentials.wrong_appid":   {"WeChat does not know this AppID.", "微信不认识该 AppID。"},
		"credentials.wrong_secret":  {"The AppSecret does not belong to this AppID.", "该 AppSecret 与 AppID 不匹配。"},
		"credentials.unknown":       {"WeChat did not answer usefully; try again later.", "微信未给出有效答复，请稍后重试。"},
		"tenants.ttl_number":        {"must be a whole number of seconds", "必须是整数秒"},
		"tenants.status":            {"Status", "状态"},
		"tenants.slug_taken":        {"another tenant has this slug", "已有租户使用该标识"},
		"tenants.seconds":           {"%s s", "%s 秒"},

		"field: must be 3-40 lowercase letters, digits or '-', not starting or ending with '-'": {"must be 3-40 lowercase letters, digits or '-', not starting or ending with '-'", "须为 3-40 个小写字母、数字或“-”，且不能以“-”开头或结尾"},
		"field: must be 1-100 characters":                                          {"must be 1-100 characters", "须为 1-100 个字符"},
		"field: must look like a WeChat AppID (wx followed by letters and digits)": {"must look like a WeChat AppID (wx followed by letters and digits)", "须为微信 AppID 格式（wx 后跟字母和数字）"},
		"field: must be 8-128 characters without surrounding spaces":               {"must be 8-128 characters without surrounding spaces", "须为 8-128 个字符，且首尾不能有空格"},
		"field: must be ES256 or EdDSA":                                            {"must be ES256 or EdDSA", "须为 ES256 或 EdDSA"},
		"field: must be 60-86400":                                                  {"must be 60-86400", "须在 60 到 86400 之间"},
		"field: must be 300-31536000":                                              {"must be 300-31536000", "须在 300 到 31536000 之间"},
		`field: must look like "20-M": a count, '-', and S, M, H or D`:             {`must look like "20-M": a count, '-', and S, M, H or D`, "格式须类似“20-M”：次数、“-”以及 S、M、H 或 D"},
	})
}

// breakerState is the breaker state a page shows: the known ones, else
// closed (a tenant that made no WeChat call yet).
func breakerState(s string) string {
	if s == auth.BreakerOpen || s == auth.BreakerHalfOpen {
		return s
	}
	return auth.BreakerClosed
}
