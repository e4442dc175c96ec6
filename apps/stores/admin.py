"""Admin registrations of the stores app; each model added to this app registers here."""
