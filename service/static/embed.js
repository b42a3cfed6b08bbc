/* commentd comment widget: built in issue 3 */
