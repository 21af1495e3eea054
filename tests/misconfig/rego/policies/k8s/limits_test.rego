# An OPA unit test file: customhouse does not load *_test.rego files.
package custom.kubernetes.limits_test

this is not even valid Rego
