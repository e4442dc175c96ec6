"""Admin registrations of the recon app; each model added to this app registers here."""
