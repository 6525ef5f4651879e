package views

func init() {
	register(catalog{
		"dashboard.title":       {"Dashboard", "概览"},
		"dashboard.scope":       {"Show", "范围"},
		"dashboard.platform":    {"Whole platform", "整个平台"},
		"dashboard.scope_slug":  {"Tenant slug (empty for the whole platform)", "租户标识（留空为整个平台）"},
		"dashboard.of_tenant":   {"Figures of tenant %s.", "租户 %s 的数据。"},
		"dashboard.show":        {"Show", "查看"},
		"dashboard.tenants":     {"Tenants", "租户数"},
		"dashboard.users":       {"Users", "用户数"},
		"dashboard.logins":      {"Logins today", "今日登录"},
		"dashboard.new_users":   {"New users today", "今日新用户"},
		"dashboard.failed":      {"Failed logins today", "今日登录失败"},
		"dashboard.limited":     {"Rate-limited today", "今日限流"},
		"dashboard.banned":      {"Refused as banned today", "今日封禁拒绝"},
		"dashboard.chart":       {"Logins per hour, last 24 hours", "最近 24 小时每小时登录数"},
		"dashboard.chart_alt":   {"Bar chart of logins per hour over the last 24 hours; the highest hour had %s.", "最近 24 小时每小时登录数柱状图，最高一小时为 %s 次。"},
		"dashboard.failures":    {"Login failures today by code", "今日登录失败（按错误码）"},
		"dashboard.no_failures": {"No failed logins today.", "今日没有登录失败。"},
		"dashboard.code":        {"Code", "错误码"},
		"dashboard.count":       {"Count", "次数"},
	})
}
