"""The product's words in each language, to find the other language's on a page (pages and browser tests).

A term is a whole word or phrase, case-sensitive: "Open" is the product's word, "open" may be a
customer's. Test data is left out before looking (a customer may write any word).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The product's own English terms, as its pages show them (whole words, case-sensitive). Words that
# Brazilian Portuguese uses as they are (Status, Online, Offline, Menu, Total, Webhook, Token, API) are
# not listed: a Portuguese page may show them.
ENGLISH_TERMS = (
    "Inbox",
    "Inboxes",
    "Conversation",
    "Conversations",
    "Assign",
    "Assign to me",
    "Assignee",
    "Unassigned",
    "Resolve",
    "Resolved",
    "Reopen",
    "Snooze",
    "Snoozed",
    "Reply",
    "Private note",
    "Note",
    "Notes",
    "Quick reply",
    "Quick replies",
    "Label",
    "Labels",
    "Settings",
    "Member",
    "Members",
    "Role",
    "Roles",
    "Permissions",
    "Save",
    "Cancel",
    "Delete",
    "Edit",
    "Send",
    "Search",
    "Priority",
    "Contact",
    "Template",
    "Templates",
    "Open",
    "Pending",
    "Mine",
    "All",
    "Today",
    "Yesterday",
    "Audit log",
    "Preferences",
    "Security",
    "Workspace",
    "Workspaces",
    "Channel",
    "Channels",
    "Log out",
    "Attributes",
    "Previous conversations",
    "Window",
    "Waiting",
    "Unread",
    "Retry",
    "Add",
    "Remove",
    "Close",
    "Back",
    "Invite",
    "Invitation",
    "Invitations",
    "Revoke",
    "Owner",
    "Agent",
    "Password",
    "Account",
    "Language",
    "Time zone",
    "Dashboard",
    "Availability",
    "Notifications",
    "Sent",
    "Delivered",
    "Failed",
    "Download",
    "Forwarded",
    "Name",
    "Description",
    "Shortcut",
    "Actions",
    "Change",
    "Created",
    "Loading",
    "Anyone",
    "Sort",
    "Events",
    "Event deliveries",
    "Processed",
    "Reprocess",
    "Never",
    "None",
    "Low",
    "Medium",
    "High",
    "Urgent",
    "Busy",
    "Customer",
    "Number",
    "Phone",
)

# What an English member must not see (the Portuguese of some of the terms above).
PORTUGUESE_TERMS = (
    "Caixa de entrada",
    "Conversas",
    "Atribuir",
    "Atribuir a mim",
    "Responsável",
    "Sem responsável",
    "Resolver",
    "Resolvida",
    "Reabrir",
    "Adiar",
    "Adiada",
    "Responder",
    "Nota privada",
    "Resposta rápida",
    "Respostas rápidas",
    "Etiquetas",
    "Configurações",
    "Membros",
    "Funções",
    "Salvar",
    "Cancelar",
    "Excluir",
    "Editar",
    "Enviar",
    "Buscar",
    "Prioridade",
    "Contato",
    "Modelo",
    "Aberta",
    "Pendente",
    "Minhas",
    "Todas",
    "Hoje",
    "Ontem",
    "Registro de auditoria",
    "Preferências",
    "Segurança",
    "Espaço de trabalho",
    "Canais",
    "Sair",
    "Atributos",
    "Conversas anteriores",
    "Aguardando",
    "Não lidas",
    "Tentar de novo",
    "Adicionar",
    "Remover",
    "Fechar",
    "Convidar",
    "Proprietário",
    "Atendente",
    "Senha",
    "Idioma",
    "Fuso horário",
    "Painel",
    "Disponibilidade",
    "Notificações",
    "Nome",
    "Descrição",
)


# Words of any English sentence that Portuguese never uses ("for" and "do" are Portuguese words too).
ENGLISH_WORDS: tuple[str, ...] = (
    "The",
    "the",
    "This",
    "this",
    "Your",
    "your",
    "You",
    "you",
    "and",
    "with",
    "is",
    "are",
    "has",
)
ENGLISH_WORDS += ("have", "will", "cannot", "not", "of", "to", "from", "here", "there", "been")
# And of any Portuguese sentence, that English never uses.
PORTUGUESE_WORDS: tuple[str, ...] = (
    "você",
    "Você",
    "não",
    "Não",
    "uma",
    "Uma",
    "para",
    "Para",
    "com",
    "está",
    "seu",
    "sua",
)
PORTUGUESE_WORDS += ("já", "até")


def term_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    """Whole words only: not inside an address, a path or an identifier (``aurora.com.br``, ``America/Nome``)."""
    words = sorted(terms, key=len, reverse=True)
    return re.compile(r"(?<![\w./@-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w/@-]|\.\w)")


ENGLISH = term_pattern(ENGLISH_TERMS + ENGLISH_WORDS)
PORTUGUESE = term_pattern(PORTUGUESE_TERMS + PORTUGUESE_WORDS)


def terms_in(texts: Iterable[str], pattern: re.Pattern[str], data: Iterable[str] = ()) -> dict[str, list[str]]:
    """Each term of ``pattern`` found in ``texts``, with the texts it appears in (``data`` left out)."""
    data = sorted(data, key=len, reverse=True)
    found: dict[str, list[str]] = {}
    for text in texts:
        cleaned = text
        for value in data:
            cleaned = cleaned.replace(value, " ")
        for match in pattern.finditer(cleaned):
            found.setdefault(match.group(1), []).append(text[:120])
    return found
