"""Implementation of the SDK that `import ftl` exposes; import from `ftl`, not from here."""
