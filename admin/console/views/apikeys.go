package views

import "context"

// emptyLabel is the label of a tenant picker's "" choice when it is offered.
func emptyLabel(ctx context.Context, offered bool, key string) string {
	if !offered {
		return ""
	}
	return T(ctx, key)
}

func init() {
	register(catalog{
		"apikeys.title":          {"API keys", "API 密钥"},
		"apikeys.scope":          {"Keys of", "查看范围"},
		"apikeys.all":            {"All keys", "全部密钥"},
		"apikeys.show":           {"Show", "查看"},
		"apikeys.empty":          {"No API keys yet.", "还没有 API 密钥。"},
		"apikeys.name":           {"Name", "名称"},
		"apikeys.role":           {"Role", "角色"},
		"apikeys.tenant":         {"Tenant", "租户"},
		"apikeys.platform":       {"Platform", "平台"},
		"apikeys.no_tenant":      {"None (platform key)", "无（平台密钥）"},
		"apikeys.tenant_hint":    {"platform_admin keys act on the whole platform and take no tenant; the other roles need one.", "platform_admin 密钥作用于整个平台，不能指定租户；其他角色必须指定租户。"},
		"apikeys.last_used":      {"Last used", "最近使用"},
		"apikeys.revoke":         {"Revoke", "吊销"},
		"apikeys.revoke_confirm": {"Revoke the API key %s? Programs using it stop working at once.", "确定吊销 API 密钥 %s？使用它的程序将立即失效。"},
		"apikeys.revoked":        {"API key %s revoked.", "API 密钥 %s 已吊销。"},
		"apikeys.create":         {"Create API key", "创建 API 密钥"},
		"apikeys.created_title":  {"API key %s created", "API 密钥 %s 已创建"},
		"apikeys.once":           {"Copy the key now: it will not be shown again. Only its hash is stored.", "请立即复制密钥：它不会再次显示，系统只保存其哈希值。"},
		"apikeys.secret":         {"The API key", "API 密钥"},
		"apikeys.copy":           {"Copy", "复制"},
		"apikeys.copied":         {"Copied", "已复制"},
		"apikeys.back":           {"Back to the API keys", "返回 API 密钥列表"},
		"tenant_picker.slug":     {"tenant slug", "租户标识"},
		"role.platform_admin":    {"platform_admin — the whole platform", "platform_admin — 整个平台"},
		"role.tenant_admin":      {"tenant_admin — one tenant, everything", "tenant_admin — 单个租户的全部权限"},
		"role.tenant_operator":   {"tenant_operator — one tenant, users and bans", "tenant_operator — 单个租户的用户与封禁"},
		"role.tenant_viewer":     {"tenant_viewer — one tenant, read only", "tenant_viewer — 单个租户，只读"},
		"field: must be one of platform_admin, tenant_admin, tenant_operator, tenant_viewer": {"must be one of platform_admin, tenant_admin, tenant_operator, tenant_viewer", "必须是 platform_admin、tenant_admin、tenant_operator、tenant_viewer 之一"},
		"field: is required for tenant roles and not allowed for platform_admin":             {"is required for tenant roles and not allowed for platform_admin", "租户角色必须指定租户，platform_admin 不能指定租户"},
		"field: no tenant has this slug":                                                     {"no tenant has this slug", "没有使用此标识的租户"},
	})
}
