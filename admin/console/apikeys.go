package console

import "github.com/gin-gonic/gin"

func (h *Handler) accessRoutes(s *gin.RouterGroup) {}
