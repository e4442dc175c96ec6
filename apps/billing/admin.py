"""Admin registrations of the billing app; each model added to this app registers here."""
