"""Admin registrations of the bidding app; each model added to this app registers here."""
