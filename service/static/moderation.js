/* commentd moderation widget: built in issue 3 */
