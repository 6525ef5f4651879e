package views

func init() {
	register(catalog{
		"audit.title":         {"Audit log", "审计日志"},
		"audit.tenant":        {"Tenant", "租户"},
		"audit.all_tenants":   {"All (platform and every tenant)", "全部（平台及所有租户）"},
		"audit.actor_id":      {"Actor id", "操作者 ID"},
		"audit.action_filter": {"Action (exact, or a prefix ending in \".\")", "操作（精确匹配，或以“.”结尾的前缀）"},
		"audit.from":          {"From", "起始时间"},
		"audit.until":         {"Until", "截止时间"},
		"audit.apply":         {"Filter", "筛选"},
		"audit.reset":         {"Clear filters", "清除筛选"},
		"audit.hint":          {"Times are in your time zone. Newest entries first.", "时间为您所在时区。最新的记录在前。"},
		"audit.empty":         {"No audit entries match.", "没有符合条件的审计记录。"},
		"audit.at":            {"Time", "时间"},
		"audit.actor":         {"Actor", "操作者"},
		"audit.action":        {"Action", "操作"},
		"audit.target":        {"Target", "对象"},
		"audit.ip":            {"IP", "IP"},
		"audit.changes":       {"Changes", "变更"},
		"audit.platform":      {"Platform", "平台"},
		"audit.bad_time":      {"must be a date and time", "必须是日期和时间"},
		"audit.too_long":      {"is too long", "过长"},
		"audit.bad_filter":    {"Correct the marked filters.", "请更正标出的筛选条件。"},
	})
}
