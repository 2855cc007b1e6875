# Run by embed_text() (EmbedText.cmake) in script mode: writes OUTPUT, a C++ file defining
# std::string_view NAMESPACE::FUNCTION() that returns the contents of INPUT.
file(READ ${INPUT} text)
# The text goes into a raw string literal; a file holding its closing sequence cannot be embedded
# that way, so it is refused instead of producing code that does not compile (or worse, does).
set(delimiter "embedded")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${DISPLAY_NAME} contains )${delimiter}\" and cannot be embedded")
endif()
file(WRITE ${OUTPUT}.tmp
  "// Generated from ${DISPLAY_NAME} by cmake/embed_text_script.cmake: edit that file instead.\n"
  "#include <string_view>\n\n"
  "namespace ${NAMESPACE} {\n\n"
  "std::string_view ${FUNCTION}() {\n"
  "    static constexpr std::string_view text = R\"${delimiter}(${text})${delimiter}\";\n"
  "    return text;\n"
  "}\n\n"
  "}  // namespace ${NAMESPACE}\n")
# Rewritten only when different, so an unchanged page does not recompile.
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
