package views

func init() {
	register(catalog{
		"dashboard.title": {"Dashboard", "概览"},
	})
}
