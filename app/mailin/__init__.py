"""Replies by e-mail: the Reply-To address of ticket mail, and mail coming back in."""
