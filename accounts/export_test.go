package accounts

// ExportPattern is exportPattern, for the tests.
var ExportPattern = exportPattern
