"""The bottom layer: errors, record schemas, preference math and text helpers; imports nothing above it."""
