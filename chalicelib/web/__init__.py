"""Server-rendered pages for people who click a link: confirmation, preference centre, unsubscribe."""
