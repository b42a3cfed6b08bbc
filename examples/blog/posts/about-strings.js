/* The widget's words in French; any key left out stays English (see docs/embedding.md). */
window.commentdStrings = {
  heading_zero: "Commentaires", heading_one: "1 commentaire", heading_other: "{n} commentaires",
  count_zero: "Aucun commentaire", count_one: "1 commentaire", count_other: "{n} commentaires",
  empty: "Pas encore de commentaire. Soyez le premier !",
  loading: "Chargement des commentaires…",
  formHeading: "Laisser un commentaire", replyHeading: "Répondre à {name}",
  note: "Votre adresse e-mail ne sera pas publiée. Les champs obligatoires sont marqués *",
  name: "Nom", email: "E-mail", website: "Site web", body: "Commentaire",
  bodyHint: "Markdown accepté : *italique*, `code`, > citations, listes et liens.",
  notify: "Me prévenir des réponses par e-mail",
  remember: "Enregistrer mon nom, mon e-mail et mon site dans ce navigateur",
  submit: "Publier", submitting: "Envoi…", cancel: "Annuler", reply: "Répondre",
  replyTo: "Répondre à {name}", inReplyTo: "en réponse à {name}",
  pending: "En attente de modération",
  thanksPending: "Merci ! Votre commentaire attend la modération.",
  thanksApproved: "Merci ! Votre commentaire est publié.",
  invalid: "Merci de vérifier les champs indiqués.",
  nameMissing: "Indiquez votre nom.", emailMissing: "Indiquez votre adresse e-mail.",
  emailInvalid: "Cette adresse e-mail n’est pas valide.", bodyMissing: "Écrivez un commentaire.",
  error_email: "Cette adresse e-mail n’est pas valide."
};
