"""Any folder of low/high image pairs."""
