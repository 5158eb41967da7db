"""The only code that changes the kernel. Everything it creates is in the ledger first."""
