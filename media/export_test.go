package media

// HTTPDate exports httpDate for tests.
var HTTPDate = httpDate
