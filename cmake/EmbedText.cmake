# embed_text(TARGET <target> SOURCE <file> NAMESPACE <ns> FUNCTION <name>)
#
# Compiles <file> (relative to the project root) into <target> as
#   std::string_view <ns>::<name>();
# returning its exact contents. The text is regenerated at build time whenever the file changes,
# so pages are edited as plain HTML and served from the binary with no files beside it.
set(CELLROUTER_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_text_script.cmake)

function(embed_text)
  cmake_parse_arguments(EMBED "" "TARGET;SOURCE;NAMESPACE;FUNCTION" "" ${ARGN})
  set(input ${PROJECT_SOURCE_DIR}/${EMBED_SOURCE})
  set(output ${CMAKE_CURRENT_BINARY_DIR}/embedded/${EMBED_FUNCTION}.cpp)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${output} -DDISPLAY_NAME=${EMBED_SOURCE}
            -DNAMESPACE=${EMBED_NAMESPACE} -DFUNCTION=${EMBED_FUNCTION} -P ${CELLROUTER_EMBED_SCRIPT}
    DEPENDS ${input} ${CELLROUTER_EMBED_SCRIPT}
    COMMENT "Embedding ${EMBED_SOURCE}"
    VERBATIM)
  target_sources(${EMBED_TARGET} PRIVATE ${output})
endfunction()
