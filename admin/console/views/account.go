package views

func init() {
	register(catalog{
		"account.title":                         {"Change password", "修改密码"},
		"account.hint":                          {"Changing the password signs you out everywhere, this browser included.", "修改密码后，所有设备（包括本浏览器）都会退出登录。"},
		"account.current":                       {"Current password", "当前密码"},
		"account.new":                           {"New password (at least 12 characters)", "新密码（至少 12 个字符）"},
		"account.confirm":                       {"New password again", "再次输入新密码"},
		"account.submit":                        {"Change password", "修改密码"},
		"account.wrong_password":                {"This is not your current password.", "当前密码不正确。"},
		"account.mismatch":                      {"The two new passwords differ.", "两次输入的新密码不一致。"},
		"account.changed":                       {"Password changed. Sign in with the new one.", "密码已修改，请使用新密码登录。"},
		"field: must be at least 12 characters": {"must be at least 12 characters", "至少需要 12 个字符"},
	})
}
