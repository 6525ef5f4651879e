package views

import (
	"net/url"

	"github.com/miniauth/miniauth/auth"
)

// UsersPage is one page of a tenant's users, optionally searched.
type UsersPage struct {
	Page
	Slug   string
	Query  string
	Status string // "", "active" or "disabled"
	Users  []auth.User
	// Next is the cursor of the next page, "" on the last one; Paged says
	// this is not the first page.
	Next  string
	Paged bool
}

// Base is the list's URL.
func (m UsersPage) Base() string { return "/admin/tenants/" + m.Slug + "/users" }

// URL is the list with this search and cursor.
func (m UsersPage) URL(before string) string {
	v := url.Values{}
	if m.Query != "" {
		v.Set("q", m.Query)
	}
	if m.Status != "" {
		v.Set("status", m.Status)
	}
	if before != "" {
		v.Set("before", before)
	}
	if len(v) == 0 {
		return m.Base()
	}
	return m.Base() + "?" + v.Encode()
}

// UserURL is a user's detail page.
func (m UsersPage) UserURL(id string) string { return m.Base() + "/" + id }

// UserPage is one user: every field, live sessions, bans, and the actions
// the viewer may take.
type UserPage struct {
	Page
	Slug     string
	User     auth.User
	Sessions []auth.SessionInfo
	// MoreSessions says the user has more live sessions than are listed.
	MoreSessions bool
	Bans         []auth.Ban
	// What the viewer may do.
	CanWriteUsers, CanWriteSessions, CanWriteBans bool
	BanForm                                       Form
	EraseForm                                     Form
}

// Base is the user's URL.
func (m UserPage) Base() string { return "/admin/tenants/" + m.Slug + "/users/" + m.User.ID }

// Disabled reports whether the user is disabled.
func (m UserPage) Disabled() bool { return m.User.Status == "disabled" }

func opt(s *string) string {
	if s == nil || *s == "" {
		return "—"
	}
	return *s
}

func statusLabel(s string) string {
	if s == "disabled" {
		return "common.disabled"
	}
	return "common.active"
}

func init() {
	register(catalog{
		"users.title":                     {"Users", "用户"},
		"users.search":                    {"Search openid, unionid, phone or nickname", "搜索 openid、unionid、手机号或昵称"},
		"users.search_hint":               {"Matches the beginning of the value.", "按前缀匹配。"},
		"users.status_all":                {"All statuses", "全部状态"},
		"users.empty":                     {"No users yet.", "还没有用户。"},
		"users.no_match":                  {"No user matches this search.", "没有符合条件的用户。"},
		"users.openid":                    {"openid", "openid"},
		"users.unionid":                   {"unionid", "unionid"},
		"users.nickname":                  {"Nickname", "昵称"},
		"users.phone":                     {"Phone", "手机号"},
		"users.avatar":                    {"Avatar URL", "头像地址"},
		"users.id":                        {"User id", "用户 ID"},
		"users.last_login":                {"Last login", "最近登录"},
		"users.tenant_users":              {"Users of %s", "%s 的用户"},
		"users.back":                      {"All users", "全部用户"},
		"users.bans_link":                 {"Bans", "封禁"},
		"user.title":                      {"User", "用户"},
		"user.sessions":                   {"Live sessions", "有效会话"},
		"user.sessions_empty":             {"No live sessions.", "没有有效会话。"},
		"user.sessions_more":              {"Only the 50 most recently used sessions are listed.", "仅列出最近使用的 50 个会话。"},
		"user.session_created":            {"Signed in", "登录时间"},
		"user.session_last_used":          {"Last used", "最近使用"},
		"user.session_expires":            {"Expires", "过期时间"},
		"user.session_ip":                 {"IP", "IP"},
		"user.session_ua":                 {"User agent", "User-Agent"},
		"user.session_client":             {"Client", "客户端"},
		"user.session_client_miniprogram": {"Mini-program", "小程序"},
		"user.session_client_web":         {"Web (scanned)", "网页（扫码）"},
		"user.revoke":                     {"Revoke", "吊销"},
		"user.revoke_confirm":             {"Revoke this session? Its tokens stop working at once.", "吊销此会话？其令牌将立即失效。"},
		"user.revoke_all":                 {"Revoke all sessions", "吊销全部会话"},
		"user.revoke_all_confirm":         {"Revoke every session of this user? They must sign in again.", "吊销该用户的全部会话？用户需要重新登录。"},
		"user.disable":                    {"Disable user", "停用用户"},
		"user.disable_confirm":            {"Disable this user? They cannot sign in and their tokens stop working.", "停用该用户？用户将无法登录，已有令牌立即失效。"},
		"user.enable":                     {"Enable user", "启用用户"},
		"user.ban":                        {"Ban", "封禁"},
		"user.ban_title":                  {"Ban this user", "封禁该用户"},
		"user.ban_confirm":                {"Ban this user? Their sessions end at once.", "封禁该用户？其会话将立即结束。"},
		"user.banned":                     {"Banned", "已封禁"},
		"user.banned_until":               {"until %s", "至 %s"},
		"user.banned_forever":             {"permanently", "永久"},
		"user.unban":                      {"Lift the ban", "解除封禁"},
		"user.unban_confirm":              {"Lift every ban of this user?", "解除该用户的全部封禁？"},
		"user.not_banned":                 {"Not banned.", "未被封禁。"},
		"user.erase_title":                {"Erase this user", "删除该用户"},
		"user.erase_hint":                 {"Erasing deletes the user with every session, irreversibly. Type the user's openid to confirm.", "删除将永久移除该用户及其全部会话，无法恢复。请输入该用户的 openid 以确认。"},
		"user.erase_field":                {"The user's openid", "该用户的 openid"},
		"user.erase":                      {"Erase user", "删除用户"},
		"user.erase_confirm":              {"Erase this user for good?", "确定永久删除该用户？"},
		"user.erase_mismatch":             {"This is not the user's openid; nothing was erased.", "openid 不匹配，未删除任何数据。"},
		"user.actions":                    {"Actions", "操作"},
		"user.erased":                     {"User %s erased.", "用户 %s 已删除。"},
		"user.session_revoked":            {"Session revoked.", "会话已吊销。"},
		"user.sessions_revoked":           {"%s sessions revoked.", "已吊销 %s 个会话。"},
		"user.disabled":                   {"User disabled.", "用户已停用。"},
		"user.enabled":                    {"User enabled.", "用户已启用。"},
		"user.banned_flash":               {"User banned.", "用户已封禁。"},
		"user.unbanned":                   {"Ban lifted.", "封禁已解除。"},
		"user.bad_status":                 {"The status must be active or disabled.", "状态必须是启用或停用。"},
	})
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// maxUserAgent is how much of a user agent a session row shows, which
// keeps a page of 50 sessions small; what identifies a client comes first.
const maxUserAgent = 160

func shortUserAgent(ua string) string {
	if ua == "" {
		return "—"
	}
	r := []rune(ua)
	if len(r) <= maxUserAgent {
		return ua
	}
	return string(r[:maxUserAgent]) + "…"
}

// clientKey is the catalogue key naming a session's client.
func clientKey(client string) string {
	if client == auth.SessionWeb {
		return "user.session_client_web"
	}
	return "user.session_client_miniprogram"
}
