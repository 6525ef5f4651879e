package views

import "time"

// KeyRow is one signing key of a tenant.
type KeyRow struct {
	KID, Alg, Status string
	CreatedAt        time.Time
	RetireAt         *time.Time // when a retiring key leaves the JWKS
}

// KeysPage lists a tenant's signing keys, newest first.
type KeysPage struct {
	Page
	Slug, Name string
	Keys       []KeyRow
	CanRotate  bool
}

// Base is the tenant's console address.
func (m KeysPage) Base() string { return "/admin/tenants/" + m.Slug }

func init() {
	register(catalog{
		"keys.title":          {"Signing keys", "签名密钥"},
		"keys.kid":            {"Key ID", "密钥 ID"},
		"keys.alg":            {"Algorithm", "算法"},
		"keys.retire_at":      {"Leaves the JWKS", "移出 JWKS"},
		"keys.none":           {"This tenant has no signing keys.", "该租户没有签名密钥。"},
		"keys.hint":           {"Tokens are signed with the active key. A rotated key stays in the JWKS as retiring until every token it signed has expired.", "令牌使用启用中的密钥签名。轮换后的旧密钥在其签发的令牌全部过期前，仍以“退役中”状态保留在 JWKS 中。"},
		"keys.rotate":         {"Rotate key", "轮换密钥"},
		"keys.rotate_confirm": {"Rotate the signing key of %s? New tokens are signed with a new key; the current one retires.", "确定轮换 %s 的签名密钥？新令牌将使用新密钥签名，当前密钥将退役。"},
		"keys.rotated":        {"New signing key %s is active.", "新签名密钥 %s 已启用。"},
		"keys.tenant":         {"Tenant", "租户"},
	})
}
