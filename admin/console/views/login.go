package views

func init() {
	register(catalog{
		"login.title":       {"Sign in to the console", "登录控制台"},
		"login.email":       {"E-mail", "邮箱"},
		"login.password":    {"Password", "密码"},
		"login.captcha":     {"Characters in the image", "图中的数字"},
		"login.captcha_alt": {"Digits to type, distorted", "需输入的数字图片"},
		"login.submit":      {"Sign in", "登录"},
		"login.failed":      {"The e-mail or password is wrong.", "邮箱或密码错误。"},
		"login.captcha_bad": {"The characters do not match the image; try the new one.", "图中数字不匹配，请输入新图片中的数字。"},
		"login.throttled":   {"Too many failed sign-ins. Try again in %s.", "登录失败次数过多，请 %s 后重试。"},
		"login.signed_out":  {"You are signed out.", "您已退出登录。"},
		"login.expired":     {"Your session has ended. Sign in again.", "会话已结束，请重新登录。"},
		"login.unavailable": {"Sign-in is unavailable right now. Try again shortly.", "暂时无法登录，请稍后重试。"},
	})
}
