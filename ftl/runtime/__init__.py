"""What runs inside a runner: loading and extracting modules, wire encoding, serving verbs."""
