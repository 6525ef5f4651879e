package tenant

// NewDirectoryWithClock lets external tests move a directory's clock.
var NewDirectoryWithClock = newDirectory
